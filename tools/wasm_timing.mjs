// Times bundles prepared by tools/wasm_timing.py under Node; prints one JSON line per job:
// {"name", "median", "min", "maxdiff"} (ms per run: input.set + run() + reading the first output).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
const webloom = await import(pathToFileURL(request.webloom).href);

for (const job of request.jobs) {
  const runner = await webloom.load(job.dir, { backendOrder: ["wasm"] });
  const bytes = readFileSync(`${job.dir}/input.bin`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const data = job.dtype === "int32" ? new Int32Array(buffer) : new Float32Array(buffer);
  const input = runner.input(job.input);
  const output = runner.output(job.output);
  const once = async () => {
    runner.resetState();
    input.set(data, job.shape);
    await runner.run();
    return output.view();
  };
  const first = Array.from(await once());
  let maxdiff = first.length === job.expected.length ? 0 : Infinity;
  first.forEach((v, i) => { maxdiff = Math.max(maxdiff, Math.abs(v - job.expected[i])); });
  for (let i = 0; i < 20; i++) await once();
  const times = [];
  for (let i = 0; i < request.runs; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ name: job.name, median: times[times.length >> 1], min: times[0], maxdiff }));
  runner.dispose();
}
