// The public API of the webloom package.
export { load } from "./load.js";
export type { LoadOptions } from "./load.js";
export type { LoadProgress, ProgressCallback } from "./fetch.js";
export { Runner } from "./runner.js";
export type { FallbackReason, Feed } from "./runner.js";
export { InputHandle, OutputHandle } from "./tensor.js";
export type { DType, IOInfo } from "./tensor.js";
export type { Dims } from "./dims.js";
export { argmax, createRng, sample, softmax, topK } from "./sampling.js";
export type { Random, SampleOptions } from "./sampling.js";
export { registerBackend, registeredBackends, DEFAULT_BACKEND_ORDER } from "./backends/registry.js";
export type { BackendContext, BackendFactory, HostArray } from "./backends/backend.js";
export { WasmContext } from "./backends/wasm/context.js";
export { BundleError, parseBundle } from "./bundle/reader.js";
export type { BundleProgram } from "./bundle/reader.js";
export { evaluateExpr, ExprError } from "./bundle/expr.js";
