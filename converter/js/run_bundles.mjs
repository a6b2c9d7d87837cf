// Runs bundle folders with the webloom runtime under Node, for `--verify` and the weights' accuracy cost
// (converter/verify.py). Usage: node run_bundles.mjs REQUEST.json -> prints one JSON line:
// {"results": [{"backend", "outputs": {name: {shape, data}}} | {"backend", "error"}]}
// REQUEST: {"webloom": path to webloom.js, "runs": [{"dir", "backend"}], "inputs": {name: {shape, data}}}.
// JSON has no NaN/Infinity: non-finite values travel as strings.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
const webloom = await import(pathToFileURL(request.webloom).href);
const encode = (v) => (Number.isFinite(v) ? v : String(v));
const results = [];
for (const { dir, backend } of request.runs) {
  try {
    const runner = await webloom.load(dir, { backendOrder: [backend] });
    try {
      const feeds = {};
      for (const input of runner.inputs) {
        const given = request.inputs[input.name];
        if (given) feeds[input.name] = { data: given.data, shape: given.shape };
      }
      const result = await runner.predict(feeds);
      const outputs = {};
      for (const [name, values] of Object.entries(result)) {
        outputs[name] = { shape: Array.from(values.shape), data: Array.from(values, encode) };
      }
      results.push({ backend, outputs });
    } finally {
      runner.dispose();
    }
  } catch (err) {
    results.push({ backend, error: `${err.name}: ${err.message}` });
  }
}
console.log(JSON.stringify({ results }));
