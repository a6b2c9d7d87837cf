/**
 * Fetching bundle files: over HTTP(S) with fetch() (with progress), and under Node from a filesystem
 * path or a file: URL. A missing file is reported as null so the runner can fall back.
 */

import { errorText, fail } from "./fail.js";

export interface LoadProgress {
  /** The backend whose bundle is being read. */
  backend: string;
  url: string;
  loaded: number;
  /** Total bytes when known (Content-Length or file size), else 0. */
  total: number;
}

/** Called as bytes arrive: (loadedBytes, totalBytes (0 when unknown), details). */
export type ProgressCallback = (loadedBytes: number, totalBytes: number, detail: LoadProgress) => void;

/** Minimal view of Node's process object (the package does not depend on @types/node). */
interface NodeProcess {
  versions?: { node?: string };
}

function isNode(): boolean {
  const proc = (globalThis as { process?: NodeProcess }).process;
  return typeof proc?.versions?.node === "string";
}

const REMOTE = /^(https?|data|blob):/i;

/** Whether `url` names a bundle file rather than a directory holding model.<backend>.wlm files. */
export function isBundleFile(url: string): boolean {
  return /\.wlm$/i.test(url.split(/[?#]/)[0]!);
}

/** The URL or path of `name` inside the directory `base` (or beside the file `base` with `beside`). */
export function fileIn(base: string, name: string, beside = false): string {
  const cut = base.search(/[?#]/), path = cut < 0 ? base : base.slice(0, cut);
  const dir = beside ? path.slice(0, path.lastIndexOf("/") + 1)
    : path === "" || path.endsWith("/") ? path : `${path}/`;
  return dir + name + (cut < 0 ? "" : base.slice(cut));
}

/** Reports (loaded, total) bytes of the file being read. */
type Report = (loaded: number, total: number) => void;

/** Reads a whole bundle file; null when it does not exist (HTTP 404/410, ENOENT). */
export async function readBytes(url: string, backend: string, progress?: ProgressCallback):
    Promise<ArrayBuffer | null> {
  const report: Report = (loaded, total) => progress?.(loaded, total, { backend, url, loaded, total });
  // file: URLs are read from disk too (REMOTE does not match them)
  return isNode() && !REMOTE.test(url) ? readFile(url, report) : fetchBytes(url, report);
}

async function fetchBytes(url: string, report: Report): Promise<ArrayBuffer | null> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw fail(`cannot fetch ${url}: ${errorText(err)}`);
  }
  if (response.status === 404 || response.status === 410) return null;
  if (!response.ok) throw fail(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get("content-length")) || 0;
  let loaded = 0;
  const counted = response.body?.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      loaded += chunk.length;
      report(loaded, total);
      out.enqueue(chunk);
    },
  }));
  return new Response(counted).arrayBuffer();
}

interface NodeFs {
  readFile(path: string): Promise<Uint8Array>;
}

async function readFile(url: string, report: Report): Promise<ArrayBuffer | null> {
  // Kept as variables so that browser bundlers leave these Node-only imports alone.
  const fsModule = "node:fs/promises";
  const urlModule = "node:url";
  const fs = (await import(fsModule)) as NodeFs;
  const path = /^file:/i.test(url)
    ? ((await import(urlModule)) as { fileURLToPath(u: string): string }).fileURLToPath(url)
    : url;
  let data: Uint8Array;
  try {
    data = await fs.readFile(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return null;
    throw fail(`cannot read ${path}: ${errorText(err)}`);
  }
  report(data.length, data.length);
  // Node may hand out a view of a shared pool (and Buffer#slice does not copy): copy into our own buffer.
  return new Uint8Array(data).buffer as ArrayBuffer;
}
