/**
 * Checks of untrusted bundles beyond the structure, the twins of converter/bundle/checks.py (what one
 * reader accepts the other accepts; tests/fuzz/ mutates bundles and fails on any disagreement):
 *  - meta JSON: at most MAX_JSON_DEPTH levels deep, an object, every number finite;
 *  - shape dims expand (the converter canonicalizes them as polynomials) to at most MAX_TERMS terms;
 *  - static sizes within 4 GiB, step params within int32, workgroup sizes in [1, 1024], and an IO's static
 *    element count matching its tensor's byte size.
 */

import { evaluateExpr, foldExpr, validateExpr } from "./expr.js";
import { fail } from "../fail.js";
import { malformed } from "./errors.js";

export const MAX_JSON_DEPTH = 64;
export const MAX_TERMS = 4096;
export const MAX_BYTES = 2 ** 32;
export const MAX_WORKGROUP = 1024;
export const INT32: [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/** The deepest nesting of arrays and objects in JSON `text` (strings skipped), without parsing. */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "[" || ch === "{") deepest = Math.max(deepest, ++depth);
    else if (ch === "]" || ch === "}") depth--;
  }
  return deepest;
}

/** Meta JSON as an object ({} when empty); a malformed-payload BundleError unless it is the JSON we allow. */
export function loadJson(text: string, what: string): Record<string, unknown> {
  if (!text) return {};
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw malformed(`${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v === "number" && !Number.isFinite(v)) throw fail("not finite");
      return v;
    });
  } catch {
    throw malformed(`${what} is not JSON with finite numbers`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw malformed(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Whether shape dim `src` expands to more than MAX_TERMS polynomial terms (at any of its nodes). */
export function tooManyTerms(src: string): boolean {
  let tooMany = false;
  foldExpr(src, () => 1, (kind, a, b) => {
    const n = kind === "neg" ? a : kind === "+" || kind === "-" ? a + b : kind === "*" ? a * b : 1;
    tooMany ||= n > MAX_TERMS;
    return n;
  });
  return tooMany;
}

/** The value of a symbol-free expression, null when it uses symbols; throws ExprError when it cannot. */
export function staticValue(src: string): number | null {
  return validateExpr(src).length > 0 ? null : evaluateExpr(src, {});
}
