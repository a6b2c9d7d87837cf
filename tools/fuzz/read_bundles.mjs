// Reads bundle files with the JS reader: node read_bundles.mjs WEBLOOM_JS FILE... prints
// {file: null (accepted) | "error message"} as JSON. Used by tools/fuzz/make_corpus.py.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { parseBundle } = await import(pathToFileURL(process.argv[2]).href);
const out = {};
for (const file of process.argv.slice(3)) {
  const b = readFileSync(file);
  try {
    parseBundle(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    out[file] = null;
  } catch (e) {
    out[file] = `${e.name}: ${e.message}`;
  }
}
console.log(JSON.stringify(out));
