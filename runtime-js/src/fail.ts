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

/**
 * Option checks as data: throws for the first [option, ok, allowed] that is not ok, as
 * `<what>: <option> must be <allowed>, got <value>` (one message shape for generate() and load()).
 */
export function checkOptions(what: string, options: object, rules: readonly [string, unknown, string][]):
    void {
  const bad = rules.find((r) => !r[1]);
  if (!bad) return;
  const v = (options as Record<string, unknown>)[bad[0]];
  const got = typeof v === "string" ? JSON.stringify(v) : typeof v === "object" && v !== null
    ? `[${Array.from(v as ArrayLike<unknown>).join(", ")}]` : String(v);
  throw fail(`${what}: ${bad[0]} must be ${bad[2]}, got ${got}`);
}
