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

type BinaryOp = "+" | "-" | "*" | "/" | "%" | "cdiv" | "max" | "min";

export const FUNCTIONS: readonly string[] = ["cdiv", "max", "min"];
/** A whole symbol (or function) name. */
export const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Limits shared with converter/bundle/expr.py (see its module doc): bundles are untrusted input. */
export const MAX_LENGTH = 4096;
export const MAX_OPERATORS = 256;
export const MAX_DIGITS = 20;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TOKEN = /([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%(),])/y;
const SPACE = " \t\r\n";
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

function fail(src: string, what: string, column: number): ExprError {
  return new ExprError(`bad expression '${shown(src)}': ${what} at column ${column}`);
}

function tokenize(src: string): Token[] {
  if (src.length > MAX_LENGTH) {
    throw new ExprError(`bad expression '${shown(src)}': longer than ${MAX_LENGTH} characters`);
  }
  const tokens: Token[] = [];
  let pos = 0;
  for (;;) {
    while (pos < src.length && SPACE.includes(src[pos]!)) pos++;
    if (pos === src.length) {
      tokens.push({ kind: "end", text: "", column: pos + 1 });
      return tokens;
    }
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (m === null) throw fail(src, `unexpected character '${src[pos]}'`, pos + 1);
    const kind = m[1] !== undefined ? "int" : m[2] !== undefined ? "name" : "op";
    if (kind === "int" && m[0].length > MAX_DIGITS) {
      throw fail(src, `an integer of more than ${MAX_DIGITS} digits`, pos + 1);
    }
    tokens.push({ kind, text: m[0], column: pos + 1 });
    pos += m[0].length;
  }
}

/** One level of the parse: the whole expression, a parenthesis, or a function call's arguments. */
interface Frame {
  kind: "top" | "paren" | "call";
  name: string;
  /** Pending operators, weakest at the bottom. */
  ops: string[];
  /** Finished arguments of a call. */
  args: number;
}

function frame(kind: Frame["kind"], name = ""): Frame {
  return { kind, name, ops: [], args: 0 };
}

/**
 * Parses `src` by operator precedence over an explicit stack of frames (no recursion, so no call-stack
 * limit), with the errors of a recursive descent over the grammar above; the nodes come out in post order.
 */
function parse(src: string): ExprNode[] {
  const tokens = tokenize(src);
  const frames: Frame[] = [frame("top")];
  const out: ExprNode[] = [];
  let i = 0;
  let operators = 0;
  const top = () => frames[frames.length - 1]!;
  const count = (column: number): void => {
    if (++operators > MAX_OPERATORS) throw fail(src, `more than ${MAX_OPERATORS} operators`, column);
  };

  /** Consumes one token where an operand must start; returns whether an operand is still wanted. */
  const operand = (tok: Token): boolean => {
    // only an op token is "-" or "(" (ints are digits, names identifiers, the end token is empty)
    if (tok.text === "-") {
      count(tok.column);
      top().ops.push("neg");
      return true;
    }
    if (tok.text === "(") {
      frames.push(frame("paren"));
      return true;
    }
    if (tok.kind === "int") {
      out.push({ kind: "int", value: BigInt(tok.text) });
      return false;
    }
    if (tok.kind === "name" && tokens[i]!.text === "(") {
      if (!FUNCTIONS.includes(tok.text)) {
        const known = FUNCTIONS.join(", ");
        throw fail(src, `unknown function '${tok.text}' (functions: ${known})`, tok.column);
      }
      count(tok.column);
      i++;
      frames.push(frame("call", tok.text));
      return true;
    }
    if (tok.kind === "name") {
      if (FUNCTIONS.includes(tok.text)) {
        throw fail(src, `expected '(' after '${tok.text}'`, tok.column + tok.text.length);
      }
      out.push({ kind: "sym", name: tok.text });
      return false;
    }
    throw fail(src, "expected a number, symbol or '('", tok.column);
  };

  /** Emits the frame's pending operators that bind at least as tightly as `precedence`. */
  const reduce = (precedence: number): void => {
    const ops = top().ops;
    while (ops.length > 0 && PRECEDENCE[ops[ops.length - 1]!]! >= precedence) {
      out.push({ kind: ops.pop() as BinaryOp | "neg" });
    }
  };

  /**
   * The current frame's expression ended at `tok` (already consumed): true when it was the whole
   * expression; a ',' opens a call's second argument, a ')' ends a parenthesis or a call.
   */
  const close = (tok: Token): boolean => {
    reduce(0);
    const f = top();
    if (f.kind === "top") {
      if (tok.kind !== "end") throw fail(src, `unexpected '${tok.text}'`, tok.column);
      return true;
    }
    const want = f.kind === "call" && f.args === 0 ? "," : ")";
    if (tok.text !== want) throw fail(src, `expected '${want}'`, tok.column);
    if (want === ",") {
      f.args++;
      return false;
    }
    frames.pop();
    if (f.kind === "call") out.push({ kind: f.name as BinaryOp });
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
      top().ops.push(tok.text);
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
      throw new ExprError(`bad expression '${String(src)}': expected a string, got ${typeof src}`);
    }
    nodes = parse(src);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(src, nodes);
  }
  return nodes;
}

/** Checks the syntax of `src`; returns the sorted names of the symbols it uses. */
export function validateExpr(src: string): string[] {
  const names = new Set<string>();
  for (const node of parseExpr(src)) if (node.kind === "sym") names.add(node.name);
  return [...names].sort();
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b; // truncates toward zero
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

function floorMod(a: bigint, b: bigint): bigint {
  return a - floorDiv(a, b) * b;
}

function bound(src: string, name: string, bindings: Readonly<Record<string, number>>): bigint {
  if (!Object.prototype.hasOwnProperty.call(bindings, name)) {
    const names = Object.keys(bindings).sort().join(", ") || "none";
    throw new ExprError(`expression '${shown(src)}' uses unbound symbol '${name}' (bound: ${names})`);
  }
  const value = bindings[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ExprError(`symbol '${name}' is bound to ${String(value)}, not an integer`);
  }
  return BigInt(value);
}

function evaluate(src: string, bindings: Readonly<Record<string, number>>): bigint {
  const values: bigint[] = [];
  for (const node of parseExpr(src)) {
    if (node.kind === "int") values.push(node.value);
    else if (node.kind === "sym") values.push(bound(src, node.name, bindings));
    else if (node.kind === "neg") values.push(-values.pop()!);
    else {
      const b = values.pop()!;
      values.push(apply(src, node.kind, values.pop()!, b));
    }
  }
  return values[0]!;
}

function apply(src: string, op: BinaryOp, a: bigint, b: bigint): bigint {
  if (b === 0n && (op === "/" || op === "%" || op === "cdiv")) {
    throw new ExprError(`expression '${shown(src)}' divides by zero`);
  }
  switch (op) {
    case "+": return a + b;
    case "-": return a - b;
    case "*": return a * b;
    case "/": return floorDiv(a, b);
    case "%": return floorMod(a, b);
    case "cdiv": return -floorDiv(-a, b);
    case "max": return a > b ? a : b;
    case "min": return a < b ? a : b;
  }
}

/** The value of `src` with its symbols taken from `bindings` (e.g. `{ batch: 2, time: 7 }`). */
export function evaluateExpr(src: string, bindings: Readonly<Record<string, number>>): number {
  const value = evaluate(src, bindings);
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    throw new ExprError(`expression '${shown(src)}' overflows: ${numberText(value)} is beyond +-(2^53-1)`);
  }
  return Number(value);
}
