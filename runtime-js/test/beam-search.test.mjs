// State snapshots and beam search on the wasm backend, with the hand-made "state" bundle
// (h_out = h_in + x, y = 2 h_out): the state counts the tokens fed so far, and a fixed table of
// next-token probabilities per state makes the search's answer computable by brute force.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { beamSearch, load } from "../dist/webloom.js";
import { makeFixtures } from "../fixtures/helpers.mjs";

let fx;
before(() => { fx = makeFixtures(); });
after(() => fx.cleanup());

const V = 3;
const END = 2;
// next-token probabilities given (sum of tokens fed, number fed): greedy takes token 0 first (0.5),
// but token 1 then leads to a sure END
function probs(sum, count) {
  if (count === 1) return [0.5, 0.4, 0.1];
  if (sum === 1) return [0.05, 0.05, 0.9];
  return [0.4, 0.35, 0.25];
}

async function stateRunner() {
  const runner = await load(join(fx.dir, "state"), { backendOrder: ["wasm"] });
  const step = async (token) => {
    runner.input("x").set(Float32Array.from([token, 1]));
    await runner.step();
    const [sum, count] = runner.output("h_out").toActual();
    return probs(sum, count);
  };
  return { runner, step };
}

function bruteForce(maxLength) {
  const all = [];
  const walk = (tokens, score, sum) => {
    if (tokens.length === maxLength || tokens.at(-1) === END) {
      all.push({ tokens, score });
      return;
    }
    const p = probs(sum, tokens.length + 1);
    for (let t = 0; t < V; t++) walk([...tokens, t], score + Math.log(p[t]), sum + t);
  };
  // the start token (0) is fed first: sum 0 after one step
  walk([], 0, 0);
  return all.sort((a, b) => b.score - a.score);
}

describe("state snapshots", () => {
  it("getState/setState go back to an earlier state; snapshots are not changed by later steps", async () => {
    const { runner } = await stateRunner();
    runner.input("x").set(Float32Array.from([1, 2]));
    const zero = runner.getState();
    await runner.step();
    const one = runner.getState();
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([2, 4]));
    runner.setState(one);
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([2, 4]));
    runner.setState(zero);
    await runner.step();
    assert.deepEqual(runner.output("h_out").toActual(), Float32Array.from([1, 2]));
    assert.deepEqual(one.states.get("h_in").data, Float32Array.from([1, 2]));
    assert.throws(() => runner.setState({}), /expected a snapshot from runner.getState/);
  });
});

describe("beamSearch", () => {
  it("width 1 is greedy; a wider beam finds the better hypothesis; a full beam is exhaustive", async () => {
    const { runner, step } = await stateRunner();
    const search = (width) => {
      runner.resetState();            // the search starts from the runner's current state
      return beamSearch({ runner, step, startToken: 0, width, maxLength: 3, endToken: END });
    };
    const greedy = await search(1);
    assert.deepEqual(greedy[0].tokens, [0, 0, 0]);
    const beam = await search(2);
    assert.deepEqual(beam[0].tokens, [1, END], JSON.stringify(beam));
    assert.equal(beam[0].finished, true);
    assert.ok(Math.abs(beam[0].score - Math.log(0.4 * 0.9)) < 1e-9, JSON.stringify(beam));
    const full = await search(V ** 3);
    const want = bruteForce(3);
    assert.equal(full.length, want.length);
    const wanted = new Map(want.map((h) => [h.tokens.join(","), h.score]));
    full.forEach((h, i) => {
      assert.ok(Math.abs(h.score - wanted.get(h.tokens.join(","))) < 1e-9, h.tokens.join(","));
      assert.ok(Math.abs(h.score - want[i].score) < 1e-9, "best first");
    });
  });

  it("rejects bad options with a message", async () => {
    const { runner, step } = await stateRunner();
    await assert.rejects(beamSearch({ runner, step, startToken: 0, width: 0, maxLength: 3 }), /width must be/);
    await assert.rejects(beamSearch({ runner, step, startToken: 0, width: 2, maxLength: 3, scores: "p" }),
      /scores must be/);
  });
});
