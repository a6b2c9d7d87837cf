/**
 * The tiny integer expression language of bundles (slot sizes, kernel params, dispatch sizes).
 *
 *   expr  := term (("+" | "-") term)*
 *   term  := unary (("*" | "/" | "%") unary)*
 *   unary := "-" unary | atom
 *   atom  := INT | SYMBOL | FUNC "(" expr "," expr ")" | "(" expr ")"
 *
 * `/` and `%` floor (like Python's `//` and `%`), `cdiv(a, b)` is the ceiling of a/b, `max` and `min`
 * take two arguments. This is the twin of converter/bundle/expr.py: same results, same error messages
 * (tests/unit/expr_cases.json holds the cases both run). Arithmetic is exact (BigInt), so a result is
 * either exact or an error: beyond ±(2^53-1) a Number could not hold it. Bundles are untrusted input, so
 * the parser and the tree walks are iterative and bounded (MAX_LENGTH, MAX_OPERATORS, MAX_DIGITS).
 */

/** A malformed expression, or one that cannot be evaluated with the given bindings. */
export class ExprError extends Error {
  constructor(message: string) {
    super(printable(message));
    this.name = "ExprError";
  }
}

/**
 * One node of a parsed expression. parseExpr gives the nodes in post order (operands first, left to
 * right), the program of a stack machine: every walk over an expression is a loop over that list.
 */
export type ExprNode =
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "sym"; readonly name: string }
  | { readonly kind: "neg" | BinaryOp };

export type BinaryOp = "+" | "-" | "*" | "/" | "%" | "cdiv" | "max" | "min";

export const FUNCTIONS: readonly string[] = ["cdiv", "max", "min"];
/** A whole symbol (or function) name. */
export const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Limits shared with converter/bundle/expr.py (see its module doc): bundles are untrusted input. */
export const MAX_LENGTH = 4096;
export const MAX_OPERATORS = 256;
export const MAX_DIGITS = 20;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Spaces, then one token (an integer, a name, an operator), the end, or the character that is none. */
const TOKEN = /([ \t\r\n]*)(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%(),])|$|([^]))/y;
const SHOWN = 100;
/** How many parsed expressions stay cached; the oldest is dropped beyond (a bundle holds a few hundred). */
const CACHE_SIZE = 4096;
/** Binding strength of the operators on the stack; unary minus ("neg") binds tightest. */
const PRECEDENCE: Readonly<Record<string, number>> = { "+": 1, "-": 1, "*": 2, "/": 2, "%": 2, neg: 3 };

const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/** `text` with control characters and line separators escaped: messages quote files and stay one line. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    const hex = code.toString(16);
    return code < 0x100 ? `\\x${hex.padStart(2, "0")}` : `\\u${hex.padStart(4, "0")}`;
  });
}

/** `src` as error messages quote it: cut after SHOWN characters so a message stays one short line. */
export function shown(src: string): string {
  return src.length <= SHOWN ? src : src.slice(0, SHOWN) + "...";
}

function numberText(value: bigint): string {
  const digits = (value < 0n ? -value : value).toString().length;
  return digits <= 30 ? value.toString() : `a ${digits}-digit number`;
}

interface Token {
  kind: "int" | "name" | "op" | "end";
  text: string;
  /** 1-based column of the token's first character. */
  column: number;
}

/** How every message quotes expression `src`. */
function quoted(src: string): string {
  return `expression '${shown(src)}'`;
}

/** A syntax error in `src`: `what` was found at `column` (none: the text as a whole). */
function fail(src: string, what: string, column?: number): ExprError {
  const at = column === undefined ? "" : ` at column ${column}`;
  return new ExprError(`bad ${quoted(src)}: ${what}${at}`);
}

function tokenize(src: string): Token[] {
  if (src.length > MAX_LENGTH) {
    throw fail(src, `longer than ${MAX_LENGTH} characters`);
  }
  const tokens: Token[] = [];
  for (let pos = 0; ;) {
    TOKEN.lastIndex = pos;
    const [all, space, int, name, op, bad] = TOKEN.exec(src)!;
    const column = pos + space!.length + 1;
    if (bad !== undefined) throw fail(src, `unexpected character '${bad}'`, column);
    if (int !== undefined && int.length > MAX_DIGITS) {
      throw fail(src, `an integer of more than ${MAX_DIGITS} digits`, column);
    }
    const text = int ?? name ?? op ?? "";
    tokens.push({ kind: int ? "int" : name ? "name" : op ? "op" : "end", text, column });
    if (text === "") return tokens;
    pos += all.length;
  }
}

/**
 * Parses `src` by operator precedence over one explicit stack (no recursion, so no call-stack limit), with
 * the errors of a recursive descent over the grammar above; the nodes come out in post order. The stack
 * holds pending operators above the marker of each open group: "(" for a parenthesis, a function's name
 * while its first argument is read, the name and "," while its second is.
 */
function parse(src: string): ExprNode[] {
  const tokens = tokenize(src);
  const stack: string[] = [];
  const out: ExprNode[] = [];
  let i = 0;
  let operators = 0;
  const count = (column: number): void => {
    if (++operators > MAX_OPERATORS) throw fail(src, `more than ${MAX_OPERATORS} operators`, column);
  };

  /** Consumes one token where an operand must start; returns whether an operand is still wanted. */
  const operand = (tok: Token): boolean => {
    // only an op token is "-" or "(" (ints are digits, names identifiers, the end token is empty)
    if (tok.text === "-") {
      count(tok.column);
      stack.push("neg");
      return true;
    }
    if (tok.text === "(") {
      stack.push("(");
      return true;
    }
    if (tok.kind === "int") {
      out.push({ kind: "int", value: BigInt(tok.text) });
      return false;
    }
    if (tok.kind === "name") {
      // a name followed by "(" calls a function; any other names a symbol
      const call = tokens[i]!.text === "(";
      if (call !== FUNCTIONS.includes(tok.text)) {
        const known = FUNCTIONS.join(", ");
        throw call ? fail(src, `unknown function '${tok.text}' (functions: ${known})`, tok.column)
          : fail(src, `expected '(' after '${tok.text}'`, tok.column + tok.text.length);
      }
      if (!call) {
        out.push({ kind: "sym", name: tok.text });
        return false;
      }
      count(tok.column);
      i++;
      stack.push(tok.text);
      return true;
    }
    throw fail(src, "expected a number, symbol or '('", tok.column);
  };

  /** Emits the pending operators that bind at least as tightly as `precedence` (a marker stops it). */
  const reduce = (precedence: number): void => {
    while ((PRECEDENCE[stack[stack.length - 1] ?? ""] ?? -1) >= precedence) {
      out.push({ kind: stack.pop() as BinaryOp | "neg" });
    }
  };

  /**
   * The innermost group's expression ended at `tok` (already consumed): true when it was the whole
   * expression; a ',' opens a call's second argument, a ')' ends a parenthesis or a call.
   */
  const close = (tok: Token): boolean => {
    reduce(0);
    const group = stack.pop();
    if (group === undefined) {
      if (tok.kind !== "end") throw fail(src, `unexpected '${tok.text}'`, tok.column);
      return true;
    }
    const want = group === "(" || group.endsWith(",") ? ")" : ",";
    if (tok.text !== want) throw fail(src, `expected '${want}'`, tok.column);
    if (want === ",") stack.push(group + ",");
    else if (group !== "(") out.push({ kind: group.slice(0, -1) as BinaryOp });
    return false;
  };

  let wantOperand = true;
  for (;;) {
    const tok = tokens[i++]!;
    if (wantOperand) {
      wantOperand = operand(tok);
    } else if (tok.kind === "op" && "+-*/%".includes(tok.text)) {
      count(tok.column);
      reduce(PRECEDENCE[tok.text]!);
      stack.push(tok.text);
      wantOperand = true;
    } else if (close(tok)) {
      return out;
    } else {
      wantOperand = tok.text === ",";
    }
  }
}

const cache = new Map<string, ExprNode[]>();

/** The nodes of `src` in post order (children first, left to right); throws ExprError on bad syntax. */
export function parseExpr(src: string): readonly ExprNode[] {
  let nodes = cache.get(src);
  if (nodes === undefined) {
    if (typeof src !== "string") {
      throw fail(String(src), `expected a string, got ${typeof src}`);
    }
    nodes = parse(src);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(src, nodes);
  }
  return nodes;
}

/** A leaf of an expression: an integer or a symbol. */
export type ExprLeaf = Extract<ExprNode, { readonly kind: "int" | "sym" }>;

/**
 * The one walk over an expression: folds `src`'s nodes (post order) into a value, `leaf` giving each leaf's
 * and `op` combining an operator's operands (for "neg", `a` and `b` are both its one operand).
 */
export function foldExpr<T>(src: string, leaf: (node: ExprLeaf) => T,
  op: (kind: BinaryOp | "neg", a: T, b: T) => T): T {
  const values: T[] = [];
  for (const node of parseExpr(src)) {
    if (node.kind === "int" || node.kind === "sym") {
      values.push(leaf(node));
    } else {
      const b = values.pop()!;
      values.push(op(node.kind, node.kind === "neg" ? b : values.pop()!, b));
    }
  }
  return values[0]!;
}

/** Checks the syntax of `src`; returns the sorted names of the symbols it uses. */
export function validateExpr(src: string): string[] {
  const names = new Set<string>();
  foldExpr(src, (node) => {
    if (node.kind === "sym") names.add(node.name);
  }, () => undefined);
  return [...names].sort();
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b; // truncates toward zero
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** The binary operators; `/`, `%` and `cdiv` round like Python's `//`, `%` and -(-a // b). */
const APPLY: Readonly<Record<BinaryOp, (a: bigint, b: bigint) => bigint>> = {
  "+": (a, b) => a + b,
  "-": (a, b) => a - b,
  "*": (a, b) => a * b,
  "/": floorDiv,
  "%": (a, b) => a - floorDiv(a, b) * b,
  cdiv: (a, b) => -floorDiv(-a, b),
  max: (a, b) => (a > b ? a : b),
  min: (a, b) => (a < b ? a : b),
};

function bound(src: string, name: string, bindings: Readonly<Record<string, number>>): bigint {
  if (!Object.hasOwn(bindings, name)) {
    const names = Object.keys(bindings).sort().join(", ") || "none";
    throw new ExprError(`${quoted(src)} uses unbound symbol '${name}' (bound: ${names})`);
  }
  const value = bindings[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ExprError(`symbol '${name}' is bound to ${String(value)}, not an integer`);
  }
  return BigInt(value);
}

function evaluate(src: string, bindings: Readonly<Record<string, number>>): bigint {
  return foldExpr(src, (node) => (node.kind === "int" ? node.value : bound(src, node.name, bindings)),
    (kind, a, b) => {
      if (kind === "neg") return -a;
      if (b === 0n && (kind === "/" || kind === "%" || kind === "cdiv")) {
        throw new ExprError(`${quoted(src)} divides by zero`);
      }
      return APPLY[kind](a, b);
    });
}

/** The value of `src` with its symbols taken from `bindings` (e.g. `{ batch: 2, time: 7 }`). */
export function evaluateExpr(src: string, bindings: Readonly<Record<string, number>>): number {
  const value = evaluate(src, bindings);
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    throw new ExprError(`${quoted(src)} overflows: ${numberText(value)} is beyond +-(2^53-1)`);
  }
  return Number(value);
}
