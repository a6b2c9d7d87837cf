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
 * either exact or an error: beyond ±(2^53-1) a Number could not hold it.
 */

/** A malformed expression, or one that cannot be evaluated with the given bindings. */
export class ExprError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExprError";
  }
}

/** A parsed expression (build with parseExpr; cached per source string). */
export type Expr =
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "sym"; readonly name: string }
  | { readonly kind: "neg"; readonly arg: Expr }
  | { readonly kind: BinaryOp; readonly a: Expr; readonly b: Expr };

type BinaryOp = "+" | "-" | "*" | "/" | "%" | "cdiv" | "max" | "min";

export const FUNCTIONS: readonly string[] = ["cdiv", "max", "min"];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TOKEN = /([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%(),])/y;
const SPACE = " \t\r\n";

interface Token {
  kind: "int" | "name" | "op" | "end";
  text: string;
  /** 1-based column of the token's first character. */
  column: number;
}

function tokenize(src: string): Token[] {
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
    if (m === null) {
      throw new ExprError(`bad expression '${src}': unexpected character '${src[pos]}' at column ${pos + 1}`);
    }
    const kind = m[1] !== undefined ? "int" : m[2] !== undefined ? "name" : "op";
    tokens.push({ kind, text: m[0], column: pos + 1 });
    pos += m[0].length;
  }
}

/** Recursive descent over the tokens of one expression. */
class Parser {
  private readonly tokens: Token[];
  private i = 0;

  constructor(private readonly src: string) {
    this.tokens = tokenize(src);
  }

  parse(): Expr {
    const tree = this.sum();
    const tok = this.peek();
    if (tok.kind !== "end") throw this.fail(`unexpected '${tok.text}'`, tok.column);
    return tree;
  }

  private fail(what: string, column: number): ExprError {
    return new ExprError(`bad expression '${this.src}': ${what} at column ${column}`);
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private take(): Token {
    return this.tokens[this.i++]!;
  }

  private isOp(...texts: string[]): boolean {
    const tok = this.peek();
    return tok.kind === "op" && texts.includes(tok.text);
  }

  private expect(text: string): void {
    const tok = this.take();
    if (tok.kind !== "op" || tok.text !== text) throw this.fail(`expected '${text}'`, tok.column);
  }

  private sum(): Expr {
    let tree = this.product();
    while (this.isOp("+", "-")) tree = { kind: this.take().text as BinaryOp, a: tree, b: this.product() };
    return tree;
  }

  private product(): Expr {
    let tree = this.unary();
    while (this.isOp("*", "/", "%")) tree = { kind: this.take().text as BinaryOp, a: tree, b: this.unary() };
    return tree;
  }

  private unary(): Expr {
    if (this.isOp("-")) {
      this.take();
      return { kind: "neg", arg: this.unary() };
    }
    return this.atom();
  }

  private atom(): Expr {
    const tok = this.take();
    if (tok.kind === "int") return { kind: "int", value: BigInt(tok.text) };
    if (tok.kind === "op" && tok.text === "(") {
      const tree = this.sum();
      this.expect(")");
      return tree;
    }
    if (tok.kind === "name") {
      return this.peek().text === "(" ? this.call(tok) : this.symbol(tok);
    }
    throw this.fail("expected a number, symbol or '('", tok.column);
  }

  private call(tok: Token): Expr {
    if (!FUNCTIONS.includes(tok.text)) {
      throw this.fail(`unknown function '${tok.text}' (functions: ${FUNCTIONS.join(", ")})`, tok.column);
    }
    this.take();
    const a = this.sum();
    this.expect(",");
    const b = this.sum();
    this.expect(")");
    return { kind: tok.text as BinaryOp, a, b };
  }

  private symbol(tok: Token): Expr {
    if (FUNCTIONS.includes(tok.text)) throw this.fail(`expected '(' after '${tok.text}'`, tok.column + tok.text.length);
    return { kind: "sym", name: tok.text };
  }
}

const cache = new Map<string, Expr>();

/** The syntax tree of `src`; throws ExprError on bad syntax. */
export function parseExpr(src: string): Expr {
  let tree = cache.get(src);
  if (tree === undefined) {
    if (typeof src !== "string") {
      throw new ExprError(`bad expression '${String(src)}': expected a string, got ${typeof src}`);
    }
    tree = new Parser(src).parse();
    cache.set(src, tree);
  }
  return tree;
}

function collectSymbols(tree: Expr, out: Set<string>): Set<string> {
  if (tree.kind === "sym") out.add(tree.name);
  else if (tree.kind === "neg") collectSymbols(tree.arg, out);
  else if (tree.kind !== "int") {
    collectSymbols(tree.a, out);
    collectSymbols(tree.b, out);
  }
  return out;
}

/** Checks the syntax of `src`; returns the sorted names of the symbols it uses. */
export function validateExpr(src: string): string[] {
  return [...collectSymbols(parseExpr(src), new Set())].sort();
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
    throw new ExprError(`expression '${src}' uses unbound symbol '${name}' (bound: ${names})`);
  }
  const value = bindings[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ExprError(`symbol '${name}' is bound to ${String(value)}, not an integer`);
  }
  return BigInt(value);
}

function evaluate(src: string, tree: Expr, bindings: Readonly<Record<string, number>>): bigint {
  switch (tree.kind) {
    case "int": return tree.value;
    case "sym": return bound(src, tree.name, bindings);
    case "neg": return -evaluate(src, tree.arg, bindings);
  }
  const a = evaluate(src, tree.a, bindings);
  const b = evaluate(src, tree.b, bindings);
  return apply(src, tree.kind, a, b);
}

function apply(src: string, op: BinaryOp, a: bigint, b: bigint): bigint {
  if (b === 0n && (op === "/" || op === "%" || op === "cdiv")) {
    throw new ExprError(`expression '${src}' divides by zero`);
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
  const value = evaluate(src, parseExpr(src), bindings);
  if (value > MAX_SAFE || value < -MAX_SAFE) {
    throw new ExprError(`expression '${src}' overflows: ${value} is beyond +-(2^53-1)`);
  }
  return Number(value);
}
