/**
 * wasm threads (docs/design.md section 5): nth - 1 workers instantiate the bundle's threaded module on the
 * page's shared memory, started once at compile(); the page's own thread is thread 0.
 *
 * A split kernel runs on every thread: run() posts it as a job in the module's wl_ctl block (prelude.c.j2:
 * [4] job count, [5] kernel index, [6] argument count, [8..] arguments), calls it itself with (tid 0, nth),
 * and returns when the kernel's last barrier has passed, i.e. when every thread is done. A worker spins a
 * while on the job count (jobs come in bursts), then sleeps in Atomics.wait. A worker that throws sets the
 * abort word [2]: the barriers return and run() throws instead of spinning forever; so does a barrier that
 * waited seconds. stop() terminates the workers (a worker asleep in Atomics.wait ends too).
 */

import { fail } from "../../fail.js";

/** Bytes of stack per worker, below the weights (each instance has its own __stack_pointer). */
export const STACK = 1 << 18;

export interface Threads {
  run(kernel: number, fn: (...a: number[]) => void, args: number[]): void;
  stop(): void;
}

// One file: the worker's code travels as text and starts from a Blob URL. Its message: [module, memory,
// tid, nth, stack top, wl_ctl index, kernel entries]; it answers "" when ready, else the error.
const WORKER = "onmessage=async({data:[m,memory,t,n,p,c,e]})=>{let a;try{const x=(await WebAssembly." +
  "instantiate(m,{env:{memory}})).exports;x.__stack_pointer.value=p;e=e.map(k=>x[k]);a=new Int32Array(" +
  "memory.buffer);postMessage('');for(let s=0,i;;){for(i=0;Atomics.load(a,c+4)==s&&i<5e4;i++);Atomics." +
  "wait(a,c+4,s);s=Atomics.load(a,c+4);e[a[c+5]](...a.subarray(c+8,c+8+a[c+6]),t,n)}}catch(r){a&&(Atomics" +
  ".store(a,c+2,1),Atomics.notify(a,c+1));postMessage('worker '+t+': '+r)}}";

/**
 * Starts nth - 1 workers; rejects with one line when one fails to start or does not answer within 10 s
 * (a worker whose script cannot run at all, e.g. under a CSP without worker-src blob:, ends so too).
 * `spins`: how long a worker spins at a barrier before it sleeps (-1: spins only; 0: sleeps at once).
 */
export async function startThreads(module: WebAssembly.Module, memory: WebAssembly.Memory, ctlAddr: number,
    nth: number, spins: number, heapBase: number, entries: string[]): Promise<Threads> {
  const ctl = new Int32Array(memory.buffer);
  const c = ctlAddr >> 2;
  const url = URL.createObjectURL(new Blob([WORKER], { type: "text/javascript" }));
  const workers: Worker[] = [];
  const stop = () => workers.forEach((w) => w.terminate());
  let error = "";
  const die = (why: unknown) => fail(`wasm threads failed (${why}); load with { numThreads: 1 }`);
  ctl[c + 3] = spins;
  try {
    await Promise.all(workers.map.call(Array(nth - 1).fill(0), (_, i) => new Promise((ok, no) => {
      const w = new Worker(url);
      workers.push(w);
      setTimeout(no, 1e4, "start timeout");
      w.onmessage = (e) => (e.data ? no(error ||= e.data) : ok(0));
      w.postMessage([module, memory, i + 1, nth, heapBase + (i + 1) * STACK, c, entries]);
    })));
  } catch (err) {
    stop();
    throw die(err);
  } finally {
    URL.revokeObjectURL(url);
  }
  const check = () => {
    if (Atomics.load(ctl, c + 2)) throw die(error || "barrier timeout");
  };
  return {
    stop,
    run(kernel, fn, args) {
      check();
      ctl.set(args, c + 8);
      ctl[c + 5] = kernel;
      ctl[c + 6] = args.length;
      Atomics.add(ctl, c + 4, 1);
      Atomics.notify(ctl, c + 4);
      fn(...args, 0, nth);
      check();
    },
  };
}
