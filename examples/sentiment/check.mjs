// Runs a converted bundle directory in Node with the runtime the converter wrote beside it, and compares
// its outputs with the ones Keras gave (expected.json written by make_model.py).
//   node examples/sentiment/check.mjs web/ examples/sentiment/expected.json
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [webDir, expectedPath] = process.argv.slice(2);
if (!webDir || !expectedPath) {
  console.error("usage: node check.mjs WEB_DIR EXPECTED_JSON");
  process.exit(2);
}
const { load } = await import(pathToFileURL(resolve(webDir, "webloom.js")).href);
const expected = JSON.parse(readFileSync(expectedPath, "utf8"));

const runner = await load(resolve(webDir), { backendOrder: ["wasm"] });
const feeds = {};
for (const [name, { data, shape }] of Object.entries(expected.inputs)) {
  feeds[name] = { data: Int32Array.from(data), shape };
}
const t0 = performance.now();
const outputs = await runner.predict(feeds);
const ms = performance.now() - t0;

let worst = 0;
for (const [name, { data }] of Object.entries(expected.outputs)) {
  const got = outputs[name];
  if (!got) throw new Error(`output ${name} missing; the bundle has ${Object.keys(outputs).join(", ")}`);
  data.forEach((want, i) => {
    worst = Math.max(worst, Math.abs(got[i] - want) / (1 + Math.abs(want)));
  });
  console.log(`${name} (${runner.backendName}):`, Array.from(got, (v) => v.toFixed(5)).join(" "));
  console.log(`${name} (keras):`, data.map((v) => v.toFixed(5)).join(" "));
}
console.log(`labels: ${expected.labels.join(" ")}; max rel diff vs Keras ${worst.toExponential(2)}; ` +
  `run ${ms.toFixed(2)} ms`);
if (!(worst <= 1e-4)) {
  console.error("MISMATCH: the converted model does not reproduce Keras' outputs");
  process.exit(1);
}
