// What the backends take from parseBundle instead of checking again (src/backends/*: "parseBundle
// checked ..."): a bundle breaking one of these is refused by the reader, before any context sees it.
// The bundles come from tests/fuzz/bundles.py's tiny program, written without the writer's validation.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BundleError, parseBundle } from "../dist/webloom.js";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const python = process.env.WEBLOOM_PYTHON ?? join(root, ".venv/bin/python");

// name -> [Python statement editing the program `p`, the reader's message]
const CASES = {
  "a non-weight tensor without a slot (wasm bind, webgl textureOf)":
    ["p.tensors[2].slot = -1", /tensor 2 \('emb'\) is in slot -1, but the program has 4/],
  "a tensor id that is not its position (every context indexes tensors by id)":
    ["p.tensors[4].id = 7", /tensors\[4\] has id 7, expected 4/],
  "a step naming a tensor the program lacks (bind groups, draws, step arguments)":
    ["p.steps[1].tensors = [3, 9]", /step 1 \('copy'\) uses tensor 9, but the program has 5/],
  "a weight outside the weights blob (every upload())":
    ["p.tensors[1].weight_offset = 64", /tensor 1 \('table'\) weight bytes \[64, 124\) are outside/],
  "a loop longer than the steps left (loops() in backends/loop.ts)":
    ["p.kernels[1].meta = {'loop': {'index': 'n', 'count': 'n', 'span': 2}}",
      /repeats 2 steps but only 1 remain/],
};

const SCRIPT = `
import base64, json, sys
sys.path.insert(0, ${JSON.stringify(root)})
from tests.fuzz import bundles
out = {}
for name, edit in json.loads(sys.argv[1]).items():
    p = bundles.tiny_program()
    exec(edit, {"p": p})
    out[name] = base64.b64encode(bundles.encode_unchecked(p)).decode()
print(json.dumps(out))
`;

test("bundles breaking what the backends rely on are refused by parseBundle", () => {
  const edits = Object.fromEntries(Object.entries(CASES).map(([name, [edit]]) => [name, edit]));
  const files = JSON.parse(execFileSync(python, ["-c", SCRIPT, JSON.stringify(edits)], { encoding: "utf8" }));
  for (const [name, [, message]] of Object.entries(CASES)) {
    const bytes = Buffer.from(files[name], "base64");
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    assert.throws(() => parseBundle(buf), (err) => {
      assert.ok(err instanceof BundleError, `${name}: ${err}`);
      assert.match(err.message, message, name);
      return true;
    });
  }
});
