// Runs a bundle directory through the webloom runtime under Node, for tests/browser/fixtures.py.
// Usage: node node_run.mjs REQUEST.json  -> prints {"backend", "variant", "outputs": {name: [...]}, "dims"}
// REQUEST: {"dir": path, "webloom": path to webloom.js, "backendOrder": [...], "dims": {...} | null,
//           "inputs": {name: [numbers]}}. Errors print {"error": message} and exit with status 1.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
try {
  const webloom = await import(pathToFileURL(request.webloom).href);
  const runner = await webloom.load(request.dir, { backendOrder: request.backendOrder });
  if (request.dims) runner.setDims(request.dims);
  const result = await runner.predict(request.inputs);
  const outputs = {};
  // JSON has no NaN/Infinity: non-finite values travel as strings (decode() in fixtures.py parses them)
  const encode = (v) => (Number.isFinite(v) ? v : String(v));
  for (const [name, values] of Object.entries(result)) outputs[name] = Array.from(values, encode);
  console.log(JSON.stringify({ backend: runner.backendName, variant: runner.backendVariant, outputs,
    dims: runner.dims }));
} catch (err) {
  console.log(JSON.stringify({ error: `${err.name}: ${err.message}` }));
  process.exit(1);
}
