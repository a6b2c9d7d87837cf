/**
 * Beam search over a runner with carried state (a one-step model: a decoder, a `--step` bundle).
 *
 * Each hypothesis keeps a state snapshot (runner.getState()); expanding it restores that snapshot, feeds
 * its last token through `step` and scores every next token. Of all expansions the `width` best (sum of
 * log-probabilities) survive; one ending in `endToken` is finished and leaves the beam. The search stops
 * when no hypothesis is left or after `maxLength` tokens. Ties are broken by hypothesis order, then by
 * the lower token id, so the result is deterministic. No length normalization: scores are plain sums.
 */

import type { Runner } from "./runner.js";
import { topK } from "./sampling.js";
import type { StateSnapshot } from "./state.js";
import { checkOptions } from "./fail.js";

export interface BeamSearchOptions {
  /** The runner that carries the state; its current state (e.g. set from an encoder) is the start. */
  runner: Runner;
  /** Feeds one token (set the input, await runner.step()) and returns the next-token scores. */
  step: (token: number) => Promise<ArrayLike<number>> | ArrayLike<number>;
  /** The token fed first (e.g. `<start>`). */
  startToken: number;
  /** Hypotheses kept per step (>= 1; 1 is greedy decoding). */
  width: number;
  /** At most this many tokens per hypothesis, endToken included. */
  maxLength: number;
  /** A hypothesis that chooses this token is finished. */
  endToken?: number;
  /** What `step` returns: "probs" (softmax outputs, the default), "logits" or "logprobs". */
  scores?: "probs" | "logits" | "logprobs";
}

export interface Hypothesis {
  /** The chosen tokens (without startToken; a finished one ends with endToken). */
  tokens: number[];
  /** Sum of the chosen tokens' log-probabilities. */
  score: number;
  /** Whether it ended with endToken (else it stopped at maxLength). */
  finished: boolean;
}

interface Live {
  tokens: number[];
  score: number;
  state: StateSnapshot;
}

/** The best hypotheses, best first (at most `width`). */
export async function beamSearch(options: BeamSearchOptions): Promise<Hypothesis[]> {
  const { runner, step, startToken, width, maxLength, endToken, scores = "probs" } = options;
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  checkOptions("beamSearch", options, [["width", positive(width), "a positive integer"],
    ["maxLength", positive(maxLength), "a positive integer"],
    ["scores", ["probs", "logits", "logprobs"].includes(scores), '"probs", "logits" or "logprobs"']]);
  const toLog = logProbs(scores);
  let live: Live[] = [{ tokens: [], score: 0, state: runner.getState() }];
  const done: Hypothesis[] = [];
  for (let length = 0; length < maxLength && live.length > 0; length++) {
    const candidates: { from: number; token: number; score: number; state: StateSnapshot }[] = [];
    for (let b = 0; b < live.length; b++) {
      const hyp = live[b]!;
      runner.setState(hyp.state);
      const logp = toLog(await step(hyp.tokens.at(-1) ?? startToken));
      const after = runner.getState();
      for (const token of topK(logp, width)) {
        candidates.push({ from: b, token, score: hyp.score + logp[token]!, state: after });
      }
    }
    candidates.sort((a, b) => b.score - a.score || a.from - b.from || a.token - b.token);
    const next: Live[] = [];
    for (const c of candidates.slice(0, width)) {
      const tokens = [...live[c.from]!.tokens, c.token];
      if (c.token === endToken) done.push({ tokens, score: c.score, finished: true });
      else next.push({ tokens, score: c.score, state: c.state });
    }
    // device copies of the dropped hypotheses go now, not at garbage collection (docs/guide.md)
    const kept = new Set(next.map((h) => h.state));
    for (const s of [...live.map((h) => h.state), ...candidates.map((c) => c.state)]) {
      if (!kept.has(s)) runner.freeState(s);
    }
    live = next;
  }
  live.forEach((h) => runner.freeState(h.state));
  const all = [...done, ...live.map((h) => ({ tokens: h.tokens, score: h.score, finished: false }))];
  // stable sort: equal scores keep finished-first, then beam order
  return all.sort((a, b) => b.score - a.score).slice(0, width);
}

/** Log-probabilities from what `step` returns: log(probs), logprobs as they are, or log-softmax(logits). */
function logProbs(kind: string): (scores: ArrayLike<number>) => Float64Array {
  return (scores) => {
    const out = Float64Array.from(scores, kind === "probs" ? Math.log : Number);
    if (kind === "logits") {
      const top = out.reduce((a, b) => Math.max(a, b), -Infinity);
      const shift = top + Math.log(out.reduce((sum, v) => sum + Math.exp(v - top), 0));
      for (let i = 0; i < out.length; i++) out[i] = out[i]! - shift;
    }
    return out;
  };
}
