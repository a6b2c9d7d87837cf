// The JS side of the bundle fuzzer: reads mutants with parseBundle and runs the accepted wasm ones.
// Usage: node js_target.mjs WEBLOOM_JS PACK OUT_JSON TIMEOUT_MS
//   PACK: the mutants, each as a u32 little-endian length then its bytes (tests/fuzz/test_fuzz.py).
//   OUT_JSON: [{parse, run, detail}] per mutant, outcomes "error" | "accepted" | "crash" | "hang"
//   ("run" is null when the mutant was refused or is not a wasm bundle).
// Each mutant runs in a worker thread under a watchdog, so a hang (an endless loop in the reader or a
// kernel) is killed after TIMEOUT_MS and classified instead of stopping the run.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

/** Own errors: the runtime's error types, or a plain Error with a one-line message. */
function classify(err, webloom) {
  const own = err instanceof webloom.BundleError || err instanceof webloom.ExprError ||
    (err?.constructor === Error && typeof err.message === "string" && err.message.length > 0);
  const text = `${err?.name}: ${err?.message}`;
  if (own && !err.message.includes("\n")) return ["error", text];
  return ["crash", `${text}\n${err?.stack ?? ""}`.slice(0, 600)];
}

async function runWasm(webloom, program) {
  const context = new webloom.WasmContext();
  await context.init();
  await context.compile(program);
  await context.upload(program.weights);
  const runner = new webloom.Runner(context, program, []);
  const dims = Object.fromEntries(runner.symbols.map((s, i) => [s, 1 + (i % 3)]));
  runner.setDims(dims);
  for (const input of runner.inputs) {
    const length = input.resolveShape(dims).reduce((a, b) => a * b, 1);
    if (length > 1 << 22) throw new Error(`fuzz: input ${input.name} would hold ${length} values`);
    const data = input.dtype === "float32" ? new Float32Array(length) : new Int32Array(length);
    data.fill(input.validRange ? input.validRange[0] : 0.5);
    input.set(data);
  }
  await runner.step();
  await runner.step();
  for (const output of runner.outputs) output.toActual();
  runner.dispose();
}

async function one(webloom, bytes) {
  let program;
  try {
    program = webloom.parseBundle(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } catch (err) {
    const [parse, detail] = classify(err, webloom);
    return { parse, run: null, detail };
  }
  if (program.backend !== "wasm") return { parse: "accepted", run: null, detail: "" };
  try {
    await runWasm(webloom, program);
    return { parse: "accepted", run: "accepted", detail: "" };
  } catch (err) {
    const [run, detail] = classify(err, webloom);
    return { parse: "accepted", run, detail };
  }
}

function unpack(file) {
  const buf = readFileSync(file);
  const out = [];
  for (let at = 0; at < buf.length;) {
    const n = buf.readUInt32LE(at);
    out.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

if (isMainThread) {
  const [webloomPath, pack, outFile, timeoutText] = process.argv.slice(2);
  const timeout = Number(timeoutText ?? 3000);
  const mutants = unpack(pack);
  const results = new Array(mutants.length);
  let worker = null;
  const start = () => new Worker(new URL(import.meta.url), { workerData: { webloomPath, pack } });
  for (let i = 0; i < mutants.length; i++) {
    worker ??= start();
    const w = worker;
    results[i] = await new Promise((resolve) => {
      const timer = setTimeout(() => {
        w.removeAllListeners();
        w.terminate();
        worker = null;
        resolve({ parse: "hang", run: null, detail: `mutant ${i} ran past ${timeout} ms` });
      }, timeout);
      w.once("message", (m) => { clearTimeout(timer); w.removeAllListeners("error"); resolve(m); });
      w.once("error", (err) => {
        clearTimeout(timer);
        worker = null;
        resolve({ parse: "crash", run: null, detail: `worker died: ${err}` });
      });
      w.postMessage(i);
    });
  }
  await worker?.terminate();
  writeFileSync(outFile, JSON.stringify(results));
} else {
  const webloom = await import(pathToFileURL(workerData.webloomPath).href);
  const mutants = unpack(workerData.pack);
  parentPort.on("message", async (i) => parentPort.postMessage(await one(webloom, mutants[i])));
}
