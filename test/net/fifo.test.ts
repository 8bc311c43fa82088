/**
 * Fifo (src/net/fifo.ts) against a plain array doing the same operations: a seeded random mix of
 * push, shift, at, truncate and drain, through empty queues (the array kept) and past the
 * compaction and capacity thresholds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from '../../src/net/fifo';

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fifo: behaves as an array model under a random mix of operations', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = random(seed);
    const fifo = new Fifo<number>();
    let model: number[] = [];
    let next = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = rnd();
      // Bursts of pushes (past 1024 queued, for compaction and the dropped array), else a mix.
      const burst = step % 5_000 < 1_500;
      if (r < (burst ? 0.8 : 0.45)) {
        fifo.push(next);
        model.push(next++);
      } else if (r < 0.85) {
        assert.equal(fifo.shift(), model.shift(), `seed ${seed} step ${step}: shift`);
      } else if (r < 0.93) {
        const i = Math.floor(rnd() * (model.length + 2)) - 1;
        assert.equal(fifo.at(i), model[i], `seed ${seed} step ${step}: at(${i})`);
      } else if (r < 0.98) {
        const keep = Math.floor(rnd() * (model.length + 1));
        fifo.truncate(keep);
        model = model.slice(0, keep);
      } else {
        assert.deepEqual(fifo.drain(), model, `seed ${seed} step ${step}: drain`);
        model = [];
      }
      assert.equal(fifo.length, model.length, `seed ${seed} step ${step}: length`);
      assert.equal(fifo.peek(), model[0], `seed ${seed} step ${step}: peek`);
    }
  }
});

test('fifo: a queue emptied and refilled serves the new entries only', () => {
  const fifo = new Fifo<string>();
  for (let round = 0; round < 3; round++) {
    fifo.push(`a${round}`);
    fifo.push(`b${round}`);
    assert.equal(fifo.shift(), `a${round}`);
    assert.equal(fifo.shift(), `b${round}`);
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.at(0), undefined, 'nothing left behind the head');
    assert.equal(fifo.length, 0);
  }
});
