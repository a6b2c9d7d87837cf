import { build } from "esbuild";
import { readFileSync } from "fs";
const PRIVATE = readFileSync("build.mjs","utf8").match(/const PRIVATE = \[([\s\S]*?)\];/)[1].match(/"(\w+)"/g).map(s=>s.slice(1,-1));
const extra = JSON.parse(process.env.OPTS ?? "{}");
const r = await build({ entryPoints: ["src/index.ts"], write: false, outfile: "x.js", bundle: true, format: "esm", platform: "neutral", target: "es2022", external: ["node:*"], minify: true, mangleProps: new RegExp(`^(${PRIVATE.join("|")})$`), metafile: true, logLevel: "warning", ...extra});
const out = Object.values(r.metafile.outputs)[0];
console.log("total", r.outputFiles[0].contents.length);
if (process.env.V) for (const [k,v] of Object.entries(out.inputs).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput)) console.log(v.bytesInOutput, k);
