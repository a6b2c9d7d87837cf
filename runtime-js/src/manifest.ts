/**
 * model.json: the manifest the converter writes beside the bundles (converter/outdir.py). load() checks
 * that a bundle it reads is the one the manifest lists (same size and CRC32 as in the bundle header), so a
 * bundle left by another model's conversion is an error, not a silent wrong answer.
 */

import { BundleError } from "./bundle/reader.js";
import { readBytes } from "./fetch.js";
import { errorText, fail } from "./fail.js";

export interface ManifestBundle {
  file: string;
  bytes: number;
  sha256: string;
  crc32?: number;
}

export interface Manifest {
  format: string;
  model: { name: string; file: string; sha256?: string };
  converter: { name: string; version: string };
  weights: string;
  bundles: Record<string, ManifestBundle>;
  signature: unknown;
}

/**
 * The folder's manifest, or null when it has none (a folder written by other means) or the server will
 * not give it (some hosts answer 403 for a missing file): the check is for consistency, not security.
 */
export async function readManifest(url: string): Promise<Manifest | null> {
  const bytes = await readBytes(url, "manifest").catch(() => null);
  if (bytes === null) return null;
  try {
    const data = JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
    if (typeof data?.bundles !== "object" || data.bundles === null) throw fail("no bundles listed");
    return data;
  } catch (err) {
    throw stale(`${url} is not a Webloom manifest (${errorText(err)})`);
  }
}

/** The folder holds files of another conversion than the ones it should: `problem` says which. */
function stale(problem: string): BundleError {
  return new BundleError(`${problem}; convert the model into this folder again`);
}

/** Throws when the bundle `bytes` read from `file` for `backend` is not the one the manifest lists. */
export function checkInManifest(manifest: Manifest, file: string, backend: string, bytes: ArrayBuffer): void {
  const entry = manifest.bundles[backend];
  const model = `${manifest.model?.file} (sha256 ${manifest.model?.sha256?.slice(0, 12)})`;
  if (entry === undefined) {
    throw stale(`${file} is not part of the model in model.json, ${model}, which has bundles for ` +
      `${Object.keys(manifest.bundles).join(", ") || "no backend"}: it was left by another conversion ` +
      "(remove it)");
  }
  const crc = bytes.byteLength >= 20 ? new DataView(bytes).getUint32(16, true) : -1;
  if (entry.bytes !== bytes.byteLength || (entry.crc32 !== undefined && entry.crc32 !== crc)) {
    throw stale(`${file} is not the bundle model.json lists for ${backend} (${entry.bytes} bytes, CRC32 ` +
      `${entry.crc32}; read ${bytes.byteLength} bytes, CRC32 ${crc}) for ${model}: another conversion ` +
      "wrote it");
  }
}
