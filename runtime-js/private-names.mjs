// The names esbuild may mangle (build.mjs): private class members whose every use in src/ is that
// member. A name is left alone when anything else is called so: a property of a DOM/WebGPU/WebGL or
// standard type, a public member, a JSON field (any string literal with that text), or a use the type
// checker cannot resolve. Renaming by name is then safe: every occurrence is one of our private members.
import ts from "typescript";

function isPrivateMember(decl) {
  return (ts.isPropertyDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isGetAccessor(decl) ||
    ts.isSetAccessor(decl) || ts.isParameter(decl)) &&
    (ts.getCombinedModifierFlags(decl) & ts.ModifierFlags.Private) !== 0;
}

/**
 * Internal types (of the backends, the expression parser, the bundle reader's FlatBuffers Table) and
 * classes (the WebGPU BufferPool, held privately): their fields are renamed like private members (never a
 * DOM/WebGPU dictionary, a bundle/JSON field or a type the public .d.ts shows; a name used anywhere else
 * stays, as above).
 */
const INTERNAL = new Set(["Texture", "Draw", "Loop", "GlKernel", "StepPlan", "CompiledKernel", "Extent",
  "WebglMeta", "Threads", "Token", "Product", "Table", "BufferPool"]);

function isInternalField(decl) {
  const inInterface = (ts.isPropertySignature(decl) || ts.isMethodSignature(decl)) &&
    ts.isInterfaceDeclaration(decl.parent);
  const inClass = (ts.isPropertyDeclaration(decl) || ts.isMethodDeclaration(decl)) &&
    ts.isClassDeclaration(decl.parent);
  const field = inInterface || inClass;
  return field && INTERNAL.has(decl.parent.name?.text);
}

/** Names of private members (and INTERNAL types' fields) used only as such in the program of `tsconfig`. */
export function privateNames(tsconfig = "tsconfig.json") {
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic() {} };
  const config = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, host);
  const program = ts.createProgram(config.fileNames, config.options);
  const checker = program.getTypeChecker();
  const candidates = new Set();
  const unsafe = new Set();
  const visit = (node) => {
    if (ts.isStringLiteralLike(node)) unsafe.add(node.text);
    const name = node.name ?? null;
    const named = (ts.isPropertyAccessExpression(node) || ts.isPropertyAssignment(node) ||
      ts.isShorthandPropertyAssignment(node) || ts.isPropertyDeclaration(node) ||
      ts.isMethodDeclaration(node) || ts.isPropertySignature(node) || ts.isMethodSignature(node) ||
      ts.isGetAccessor(node) ||
      ts.isSetAccessor(node) || (ts.isBindingElement(node) && node.propertyName === undefined &&
      ts.isObjectBindingPattern(node.parent)) || (ts.isParameter(node) && ts.isIdentifier(node.name)));
    if (named && name && ts.isIdentifier(name)) {
      if (ts.isParameter(node) && !isPrivateMember(node)) return ts.forEachChild(node, visit);
      let decls = checker.getSymbolAtLocation(name)?.declarations ?? [];
      // an object literal's field: the field of the type it is written for (none: its own, unsafe);
      // returned from an async function, that type is the promise's value type
      if (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) {
        const contextual = checker.getContextualType(node.parent);
        const type = contextual && checker.getAwaitedType(contextual);
        decls = (type && checker.getPropertyOfType(type, name.text)?.declarations) || decls;
      }
      const internal = decls.length > 0 && decls.every((d) => isPrivateMember(d) || isInternalField(d));
      if (internal) candidates.add(name.text);
      else unsafe.add(name.text);
    }
    if (ts.isBindingElement(node) && node.propertyName && ts.isIdentifier(node.propertyName)) {
      unsafe.add(node.propertyName.text);
    }
    ts.forEachChild(node, visit);
  };
  for (const file of program.getSourceFiles()) {
    if (!file.isDeclarationFile) visit(file);
  }
  return [...candidates].filter((n) => !unsafe.has(n) && n.length > 1).sort();
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(privateNames().join(" "));
