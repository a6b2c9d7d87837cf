// Times each step of a Webloom wasm program in the bench's Chromium page (tools/bench/kernels.py writes
// the job and calls profile(job) through Playwright). The module is laid out like the runtime does it
// (weights at align64(__heap_base), the slots after them); the whole program runs once so every step sees
// real data, then each step is called alone many times (median over batches of calls, so a call shorter
// than the timer's resolution still times). The whole run through the runtime's Runner gives what a run
// costs beyond its kernels (the JS side: input/output copies, argument set-up, the async call).
const BATCH_MS = 3;          // one timed sample calls a step about this long in total (>= 1 call)

async function bytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function instantiate(job, moduleUrl) {
  const { instance } = await WebAssembly.instantiate(await bytes(moduleUrl), {});
  const { exports } = instance;
  const base = (exports.__heap_base.value + 63) & ~63;
  const need = base + job.total_bytes;
  const have = exports.memory.buffer.byteLength;
  if (have < need) exports.memory.grow(Math.ceil((need - have) / 65536));
  const heap = new Uint8Array(exports.memory.buffer);
  heap.set(await bytes(job.weights), base);
  for (const input of job.inputs) heap.set(fromBase64(input.data), base + input.offset);
  return job.steps.map((s) => {
    const fn = exports[s.entry];
    const args = s.ptrs.map((p) => base + p).concat(s.params);
    return () => fn(...args);
  });
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

/** Median (or least) ms per call of fn over `samples` batches of n calls, a batch about BATCH_MS long. */
function timeCalls(fn, samples, useMin) {
  let n = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    const dt = performance.now() - t0;
    if (dt >= BATCH_MS || n >= 1 << 16) break;
    n *= dt > 0 ? Math.min(16, Math.ceil(BATCH_MS / dt)) : 16;
  }
  const out = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    out.push((performance.now() - t0) / n);
  }
  return useMin ? Math.min(...out) : median(out);
}

async function runnerMs(job, samples, useMin) {
  const { load } = await import(job.runtime);
  // one thread, like the kernels timed alone (the page is cross-origin isolated: the default would split)
  const runner = await load(job.bundle, { backendOrder: ["wasm"], manifest: false, numThreads: 1 });
  for (const input of job.inputs) {
    const raw = fromBase64(input.data);
    const Type = input.dtype === "int32" ? Int32Array : Float32Array;
    runner.input(input.name).set(new Type(raw.buffer, raw.byteOffset, raw.byteLength / 4));
  }
  for (let i = 0; i < 10; i++) await runner.run();
  const out = [];
  for (let s = 0; s < samples * 2; s++) {
    const t0 = performance.now();
    await runner.run();
    out.push(performance.now() - t0);
  }
  const variant = runner.backendVariant;
  runner.dispose();
  return { ms: useMin ? Math.min(...out) : median(out), variant };
}

/**
 * {variant: {steps: [ms], program_ms}, runner} for job.modules, the variants interleaved round by round:
 * medians, or with job.min the least batch (steadier on a loaded machine, for A/B comparisons).
 */
export async function profile(job) {
  const samples = job.samples ?? 9;
  const calls = {};
  for (const [variant, url] of Object.entries(job.modules)) {
    calls[variant] = await instantiate(job, url);
    for (let i = 0; i < 20; i++) calls[variant].forEach((c) => c());    // past the baseline tier
  }
  const out = {};
  for (const variant of Object.keys(calls)) out[variant] = { steps: [], programs: [] };
  for (let round = 0; round < (job.rounds ?? 3); round++) {
    for (const [variant, cs] of Object.entries(calls)) {
      out[variant].steps.push(cs.map((c) => timeCalls(c, samples, job.min)));
      out[variant].programs.push(timeCalls(() => cs.forEach((c) => c()), samples, job.min));
    }
  }
  const pick = job.min ? (v) => Math.min(...v) : median;
  for (const o of Object.values(out)) {
    o.steps = o.steps[0].map((_, i) => pick(o.steps.map((r) => r[i])));
    o.program_ms = pick(o.programs);
  }
  out.runner = job.bundle ? await runnerMs(job, samples, job.min) : null;
  return out;
}

/** {variant: ms} of the peak microkernel (tools/bench/kernels.py PEAK_C) for `iters` iterations. */
export async function peak({ modules, iters }) {
  const out = {};
  for (const [variant, url] of Object.entries(modules)) {
    const { instance } = await WebAssembly.instantiate(await bytes(url), {});
    const { exports } = instance;
    const io = 1024;                                  // inside the module's first page, past its data
    new Float32Array(exports.memory.buffer, io, 4).set([0.5, 0.25, 0.125, 1]);
    for (let i = 0; i < 20; i++) exports.peak(io, 1000);
    out[variant] = timeCalls(() => exports.peak(io, iters), 15, true);
  }
  return out;
}
