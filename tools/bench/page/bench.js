// One benchmark row in this page: open a runtime on a model, check its output against Keras', then time it
// one run at a time, so run.py can alternate the rows of a model (A B C, C B A, ...) and pair their runs.
//
// run.py serves the repository root on 127.0.0.1, opens one page per row (all rows of a model open at
// once) and calls benchOpen(spec) in each, then benchRun() in turn, with
//   spec = { runtime: "webloom" | "tfjs" | "ort", backend, mode: "infer" | "window" | "step",
//            modelUrl, caseUrl, webloomUrl, tolerance, budgetMs, threads, barrier }
// threads: wasm threads for Webloom (numThreads, barrier: its threadBarrier) and ORT-web (numThreads); the
// page is cross-origin isolated (browser.py), so both can run them.
// mode "infer" runs the model once per timed run; "window" and "step" generate GEN characters per timed
// run (M5): "window" re-feeds the last 40 characters to the window model, "step" feeds one character to
// Webloom's stateful step() after priming (not timed) with the seed text. Every timed run includes
// reading the output back to a JS array, as an application must.

const NM = "/tools/bench/node_modules/";
const CHARS = 57;
const WINDOW = 40;

/** Thrown when a runtime/backend pair cannot run in this browser or build; its row says "not available". */
class NotAvailable extends Error {}

let openTask = null;

/**
 * Loads (load_ms), checks (the check is the first run: first_run_ms, whole run incl. lazy compiles) and,
 * unless the check alone took over half the row's budget (SwiftShader TF.js webgpu: up to a minute per
 * run), runs one warm-up. The row is ok only when the check passes; benchRun() then times one run.
 */
export async function benchOpen(spec) {
  const row = { runtime: spec.runtime, backend: spec.backend, ok: false, max_err: null, load_ms: null,
    first_run_ms: null, slow: false, error: null, detail: null };
  openTask = null;
  try {
    const testCase = await (await fetch(spec.caseUrl, { cache: "no-store" })).json();
    const t0 = performance.now();
    const session = await OPENERS[spec.runtime](spec, testCase.input.dtype);
    row.load_ms = performance.now() - t0;
    row.detail = session.detail;
    row.variant = session.variant ?? "";
    const task = TASKS[spec.mode](session, testCase);
    const checkStart = performance.now();
    row.max_err = await task.check();
    row.first_run_ms = performance.now() - checkStart;
    row.ok = row.max_err <= spec.tolerance;
    if (!row.ok) {
      row.error = `wrong output: max error ${row.max_err.toExponential(2)} > ${spec.tolerance}`;
      return row;
    }
    row.slow = row.first_run_ms > spec.budgetMs / 2;
    if (!row.slow) await task.run();
    openTask = task;
  } catch (err) {
    row.ok = false;
    const text = err instanceof Error ? err.message : String(err);
    row.error = (err instanceof NotAvailable ? "not available: " : "") + text.split("\n")[0];
  }
  return row;
}

/** One timed run of the opened row: ms per run (per generated character for M5). */
export async function benchRun() {
  if (!openTask) throw new Error("benchRun before a successful benchOpen");
  return (await openTask.run()) / openTask.per;
}

// ---- what a timed run does ---------------------------------------------------------------------------

function typed(dtype, data) {
  return dtype === "int32" ? Int32Array.from(data) : Float32Array.from(data);
}

/** max |got - want| / (1 + |want|), as run.py computes it for the native rows. */
function relErr(got, want) {
  if (!got || got.length !== want.length) {
    throw new Error(`output has ${got ? got.length : "no"} values, Keras gave ${want.length}`);
  }
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(e <= worst)) worst = e;   // NaN propagates as a failure
  }
  return worst;
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

const TASKS = {
  infer(session, testCase) {
    const x = typed(testCase.input.dtype, testCase.input.data);
    const shape = testCase.input.shape;
    return {
      per: 1,
      check: async () => relErr(await session.infer(x, shape), testCase.expected.data),
      run: async () => {
        const t0 = performance.now();
        await session.infer(x, shape);
        return performance.now() - t0;
      },
    };
  },

  window(session, testCase) {
    const gen = testCase.generation;
    const window = new Float32Array(WINDOW * CHARS);
    const generate = async () => {
      const text = [...gen.seed];
      const probs = [];
      const t0 = performance.now();
      for (let i = 0; i < gen.window_chars.length; i++) {
        window.fill(0);
        const recent = text.slice(-WINDOW);
        recent.forEach((c, t) => { window[t * CHARS + c] = 1; });
        const p = await session.infer(window, [1, WINDOW, CHARS]);
        probs.push(p);
        text.push(argmax(p));
      }
      return { ms: performance.now() - t0, chars: text.slice(gen.seed.length), probs };
    };
    return generationTask(generate, gen.window_chars, gen.window_probs);
  },

  step(session, testCase) {
    const gen = testCase.generation;
    const prime = new Float32Array(gen.seed.length * CHARS);
    gen.seed.forEach((c, t) => { prime[t * CHARS + c] = 1; });
    const one = new Float32Array(CHARS);
    const generate = async () => {
      session.reset();
      const first = argmax(await session.step(prime));    // priming: not timed
      if (first !== gen.step_first) {
        throw new Error(`priming gave character ${first}, Keras ${gen.step_first}`);
      }
      let last = first;
      const chars = [];
      const probs = [];
      const t0 = performance.now();
      for (let i = 0; i < gen.step_chars.length; i++) {
        one.fill(0);
        one[last] = 1;
        const p = await session.step(one);
        probs.push(p);
        last = argmax(p);
        chars.push(last);
      }
      return { ms: performance.now() - t0, chars, probs };
    };
    return generationTask(generate, gen.step_chars, gen.step_probs);
  },
};

function generationTask(generate, wantChars, wantProbs) {
  return {
    per: wantChars.length,
    check: async () => {
      const { chars, probs } = await generate();
      const flat = new Float32Array(probs.length * CHARS);
      probs.forEach((p, i) => flat.set(p.subarray(0, CHARS), i * CHARS));
      const err = relErr(flat, wantProbs);
      if (chars.join() !== wantChars.join()) {
        throw new Error(`generated characters [${chars}] differ from Keras' [${wantChars}]`);
      }
      return err;
    },
    run: async () => (await generate()).ms,
  };
}

// ---- runtimes ------------------------------------------------------------------------------------------

const OPENERS = {
  async webloom(spec) {
    const { load } = await import(spec.webloomUrl);
    let runner;
    try {
      runner = await load(spec.modelUrl, { backendOrder: [spec.backend], numThreads: spec.threads ?? 1,
        threadBarrier: spec.barrier ?? undefined });
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (/not built into|init failed|not found/.test(text)) throw new NotAvailable(text);
      throw err;
    }
    if (runner.backendName !== spec.backend) {
      throw new Error(`asked for ${spec.backend}, the runner uses ${runner.backendName}`);
    }
    const threads = runner.loadStats?.threads ?? 1;
    if (spec.backend === "wasm" && threads !== (spec.threads ?? 1)) {
      throw new NotAvailable(`asked for ${spec.threads} threads, the runner uses ${threads} ` +
        `(${runner.loadStats?.threadNote || "this runtime has no wasm threads"})`);
    }
    const input = runner.inputs.find((h) => h.role === "data");
    const output = runner.outputs.find((h) => h.role === "data");
    return {
      detail: `webloom ${runner.backendName}; load: ${JSON.stringify(runner.loadStats ?? {})}`,
      variant: runner.backendVariant ?? "",
      async infer(data) {
        input.set(data);
        await runner.run();
        return output.toActual();
      },
      async step(data) {
        input.set(data);
        await runner.step();
        return output.toActual();
      },
      reset() { runner.resetState(); },
    };
  },

  async tfjs(spec, dtype) {
    await loadScript(`${NM}@tensorflow/tfjs/dist/tf.min.js`);
    const tf = globalThis.tf;
    if (spec.backend === "wasm") {
      await loadScript(`${NM}@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js`);
      tf.wasm.setWasmPaths(`${NM}@tensorflow/tfjs-backend-wasm/dist/`);
      tf.wasm.setThreadsCount(1);    // every runtime single-threaded, like Webloom's wasm
    }
    if (spec.backend === "webgpu") {
      if (!navigator.gpu) throw new NotAvailable("navigator.gpu is missing in this browser");
      await loadScript(`${NM}@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js`);
    }
    const ok = await tf.setBackend(spec.backend);
    await tf.ready();
    if (!ok || tf.getBackend() !== spec.backend) {
      throw new NotAvailable(`tf.setBackend("${spec.backend}") failed; the backend is ${tf.getBackend()}`);
    }
    const model = await tf.loadLayersModel(spec.modelUrl);
    return {
      detail: `tfjs ${tf.version.tfjs} ${tf.getBackend()}`,
      async infer(data, shape) {
        const x = tf.tensor(data, shape, dtype);
        const y = model.predict(x);
        const out = await y.data();    // dataSync() on webgpu returned wrong values in 4.22
        x.dispose();
        y.dispose();
        return out;
      },
    };
  },

  async ort(spec, dtype) {
    if (spec.backend === "webgpu" && !navigator.gpu) throw new NotAvailable("navigator.gpu is missing");
    const file = spec.backend === "webgpu" ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs";
    const ort = await import(`${NM}onnxruntime-web/dist/${file}`);
    ort.env.wasm.wasmPaths = `${NM}onnxruntime-web/dist/`;
    ort.env.wasm.numThreads = spec.threads ?? 1;    // the same thread count as the Webloom row it faces
    const session = await ort.InferenceSession.create(spec.modelUrl, {
      executionProviders: [spec.backend], graphOptimizationLevel: "all" });
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    return {
      detail: `onnxruntime-web ${ort.env.versions?.web ?? ""} ${spec.backend} EP, ${ort.env.wasm.numThreads} threads`,
      async infer(data, shape) {
        const outputs = await session.run({ [inputName]: new ort.Tensor(dtype, data, shape) });
        const tensor = outputs[outputName];
        const out = tensor.location === "cpu" ? tensor.data : await tensor.getData();
        tensor.dispose();
        return out;
      },
    };
  },
};

function loadScript(src) {
  if (document.querySelector(`script[src="${src}"]`)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const el = document.createElement("script");
    el.src = src;
    el.onload = () => resolve();
    el.onerror = () => reject(new Error(`cannot load ${src}; run tools/bench/run.sh (it runs npm ci)`));
    document.head.appendChild(el);
  });
}

/** What the report's header says about this browser: version and the adapters WebGPU/WebGL2 get. */
export async function environment() {
  const env = { userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency,
    webgpu: null, webgl: null,
    crossOriginIsolated: globalThis.crossOriginIsolated === true };
  try {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
    if (adapter) {
      const info = adapter.info ?? {};
      env.webgpu = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ");
    }
  } catch (err) {
    env.webgpu = `error: ${err}`;
  }
  const gl = document.createElement("canvas").getContext("webgl2");
  if (gl) {
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    env.webgl = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  }
  return env;
}
