/** The bundle reader's errors: every problem with a bundle file is a BundleError naming it. */

import { printable } from "./expr.js";

/** A file that is not a bundle this reader can load; the message says why and what to do. */
export class BundleError extends Error {
  constructor(message: string) {
    super(printable(message));   // messages quote what the file holds: keep them one line
    this.name = "BundleError";
  }
}

/** A payload whose offsets, strings or meta JSON do not add up (flatbuffer.ts, limits.ts). */
export function malformed(problem: string): BundleError {
  return new BundleError(`bundle payload is malformed (${problem}): rewrite it with this version of webloom`);
}

/** A header or payload that is damaged. */
export function corrupted(problem: string): BundleError {
  return new BundleError(`bundle is corrupted (${problem})`);
}
