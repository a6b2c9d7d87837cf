// Runs a compiled Webloom wasm module the way the runtime will (docs/design.md section 5), for the unit
// tests until runtime-js runs bundles: weights at align64(__heap_base), then the tensors at the
// offsets the Python side computed (relative to that base). Reads a JSON job file, prints the outputs
// as base64 JSON. Usage: node wasm_node_harness.mjs job.json
import { readFileSync } from 'node:fs';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const module = new WebAssembly.Module(readFileSync(job.module));
if (WebAssembly.Module.imports(module).length) throw new Error('wasm module must not import anything');
const { exports } = new WebAssembly.Instance(module, {});
const base = (exports.__heap_base.value + 63) & ~63;
const memory = exports.memory;
const need = base + job.total_bytes;
if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
const bytes = () => new Uint8Array(memory.buffer);
bytes().set(readFileSync(job.weights), base);
for (const input of job.inputs) bytes().set(Buffer.from(input.data, 'base64'), base + input.offset);
for (const step of job.steps) {
  const args = step.ptrs.map((p) => base + p).concat(step.params);
  exports[step.entry](...args);
}
const outputs = job.outputs.map((o) =>
  Buffer.from(bytes().slice(base + o.offset, base + o.offset + o.nbytes)).toString('base64'));
console.log(JSON.stringify(outputs));
