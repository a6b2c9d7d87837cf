// The npm package as a user gets it: `import { load } from "webloom"` (installed from the tarball), run
// on a converted folder, compared with the example's expected outputs. Also the entry of the esbuild test.
//   node app.mjs WEB_DIR EXPECTED_JSON  -> prints {"worst": max |got - want| / (1 + |want|), "shape": [...]}
import { readFileSync } from "node:fs";
import { load } from "webloom";

const [webDir, expectedPath] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedPath, "utf8"));
const runner = await load(webDir, { backendOrder: ["wasm"] });
const feeds = {};
for (const [name, { data, shape }] of Object.entries(expected.inputs)) feeds[name] = { data, shape };
const result = await runner.predict(feeds);
let worst = 0;
let shape = null;
for (const [name, { data }] of Object.entries(expected.outputs)) {
  shape = Array.from(result[name].shape);
  data.forEach((want, i) => {
    worst = Math.max(worst, Math.abs(result[name][i] - want) / (1 + Math.abs(want)));
  });
}
console.log(JSON.stringify({ worst, shape }));
