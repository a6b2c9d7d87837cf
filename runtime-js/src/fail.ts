/**
 * `throw fail(message)` in place of `throw new Error(message)`: the same Error, written once, which keeps
 * the minified runtime within its 60 KB budget (issue 13) across the ~100 places that throw.
 */
export function fail(message: string): Error {
  return new Error(message);
}

/** `fail` for a problem with the input `name`: every such message starts `input "<name>": `. */
export function inputFail(name: string, problem: string): Error {
  return fail(`input "${name}": ${problem}`);
}

/** What a caught value says: its message when it is an Error. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
