// Type-checked against the installed package's types (moduleResolution nodenext and bundler).
import { load } from "webloom";
import type { Runner, ShapedArray } from "webloom";

export async function score(dir: string, ids: Int32Array): Promise<readonly number[]> {
  const runner: Runner = await load(dir, { backendOrder: ["wasm"] });
  const feeds = { words: { data: ids, shape: [1, ids.length] } };
  const result: Record<string, ShapedArray> = await runner.predict(feeds);
  const first = result["score"];
  if (first === undefined) throw new Error("no score");
  return first.shape;
}
