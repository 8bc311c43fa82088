/**
 * The balance panel's arithmetic (src/dashboard/node-history.ts, rates.ts) on a clock the test
 * drives: counts land in the bucket of their poll, the window slides and forgets, a reading across
 * a gap is not recorded, shares are each node's part of the total, and a reset counter yields no
 * step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeHistory, sharesOf, totalOf } from '../../src/dashboard/node-history';
import { perSecond, RateTracker } from '../../src/dashboard/rates';

/** A clock the test advances; the history reads only the times it is given. */
function fakeClock(startMs: number) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
      return nowMs;
    },
  };
}

test('node history: counts land in their bucket; the window ends at now and slides', () => {
  const clock = fakeClock(1_000_000); // bucket 200 of 5 s
  const h = new NodeHistory({ bucketMs: 5000, buckets: 4 });
  h.record('n0', clock.advance(1000), 1000, 10, 4);
  h.record('n0', clock.advance(1000), 1000, 5, 1);
  h.record('n1', clock.now(), 2000, 3, 0);
  assert.deepEqual(h.series('n0', clock.now()), { puts: [0, 0, 0, 15], reserves: [0, 0, 0, 5] });
  clock.advance(5000); // the next bucket
  h.record('n0', clock.now(), 5000, 7, 2);
  assert.deepEqual(h.series('n0', clock.now()).puts, [0, 0, 15, 7]);
  assert.deepEqual(h.series('n1', clock.now()).puts, [0, 0, 3, 0]);
  clock.advance(3 * 5000); // 15 s on: the first bucket has left the 4-bucket window
  assert.deepEqual(h.series('n0', clock.now()).puts, [7, 0, 0, 0]);
  clock.advance(5000);
  assert.deepEqual(h.series('n0', clock.now()).puts, [0, 0, 0, 0]);
  // A slot reused by a later bucket starts from zero, not from what the old bucket held.
  h.record('n0', clock.now(), 1000, 2, 0);
  assert.deepEqual(h.series('n0', clock.now()).puts, [0, 0, 0, 2]);
  assert.deepEqual(h.series('never', clock.now()), { puts: [0, 0, 0, 0], reserves: [0, 0, 0, 0] });
});

test('node history: a reading across a gap longer than two buckets is not recorded', () => {
  const clock = fakeClock(0);
  const h = new NodeHistory({ bucketMs: 1000, buckets: 10 });
  h.record('n0', clock.advance(60_000), 60_000, 500, 0); // nobody watched for a minute
  h.record('n0', clock.advance(1000), 1000, 4, 0);
  h.record('n0', clock.now(), 0, 9, 0); // no time elapsed
  assert.equal(totalOf(h.series('n0', clock.now()).puts), 4);
  h.keep(new Set(['n1']));
  assert.equal(totalOf(h.series('n0', clock.now()).puts), 0, 'a node gone from the cluster is forgotten');
});

test('node history: shares are each node’s part of the total, null while the total is 0', () => {
  assert.deepEqual(
    sharesOf(
      new Map([
        ['a', 30],
        ['b', 10],
        ['c', 0],
      ]),
    ),
    new Map([
      ['a', 75],
      ['b', 25],
      ['c', 0],
    ]),
  );
  assert.deepEqual(
    [
      ...sharesOf(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      ).values(),
    ],
    [33.3, 66.7],
  );
  assert.deepEqual([...sharesOf(new Map([['a', 0]])).values()], [null]);
});

test('rates: a step is the change since the previous reading; a reset counter or no time gives none', () => {
  const clock = fakeClock(10_000);
  const r = new RateTracker();
  assert.equal(r.step('k', 100, clock.now()), null, 'the first reading');
  assert.deepEqual(r.step('k', 130, clock.advance(1500)), { delta: 30, elapsedMs: 1500 });
  assert.equal(perSecond({ delta: 30, elapsedMs: 1500 }), 20);
  assert.equal(r.step('k', 130, clock.now()), null, 'no time elapsed');
  assert.equal(r.step('k', 5, clock.advance(1000)), null, 'the counter went down (a restart)');
  assert.deepEqual(r.step('k', 8, clock.advance(1000)), { delta: 3, elapsedMs: 1000 });
  r.flowStep('f', 10, clock.now());
  assert.deepEqual(
    r.flowStep('f', 4, clock.advance(500)),
    { delta: 0, elapsedMs: 500 },
    'a flow never goes negative',
  );
});
