import assert from 'node:assert/strict';
import test from 'node:test';
import { FakeClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import { NO_JOB } from '../../src/engine/job-table';
import { type Session, WATCH_HEAP_THRESHOLD } from '../../src/engine/session';

/** The answer a plain scan of the watch list gives (the definition the heap must match): a slot. */
function scanBest(s: Session): number {
  const { pri, id } = s.jobs;
  let best = NO_JOB;
  for (const t of s.watched) {
    if (t.paused) continue;
    const top = t.ready.peek();
    if (
      top !== NO_JOB &&
      (best === NO_JOB || pri[top]! < pri[best]! || (pri[top] === pri[best] && id[top]! < id[best]!))
    )
      best = top;
  }
  return best;
}

test('engine: a long watch list picks the same job as a scan through puts, pauses, ignores and deletes', () => {
  const clock = new FakeClock();
  const engine = new Engine({ clock });
  const producer = engine.openSession();
  const worker = engine.openSession();
  for (let i = 0; i < 30; i++) engine.watch(worker, `t${i}`);
  assert.ok(worker.tubeHeap, 'a heap is built past the threshold');
  let seed = 7;
  const rand = (n: number): number => {
    // mulberry32: a small seeded generator with well-mixed low bits.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const body = Buffer.from('x\r\n');
  let reserved = 0;
  for (let step = 0; step < 5000; step++) {
    const action = rand(10);
    if (action < 5) {
      engine.use(producer, `t${rand(35)}`);
      engine.put(producer, rand(4), 0, 1000, body, true);
    } else if (action === 5) engine.pauseTube(`t${rand(30)}`, rand(2) === 0 ? 0 : 5000);
    else if (action === 6) engine.ignore(worker, `t${rand(30)}`);
    else if (action === 7) engine.watch(worker, `t${rand(30)}`);
    else if (action === 8) {
      clock.advance(1000);
      engine.tick();
    } else {
      const expected = scanBest(worker);
      assert.equal(worker.bestReadyJob(), expected, `step ${step}`);
      const outcome = engine.reserve(worker, 0);
      if (expected !== NO_JOB) {
        assert.deepEqual(outcome, { type: 'reserved', job: engine.view(expected) });
        engine.delete(worker, engine.table.id[expected]!);
        reserved++;
      } else assert.deepEqual(outcome, { type: 'TIMED_OUT' });
    }
    assert.equal(worker.bestReadyJob(), scanBest(worker), `step ${step}`);
  }
  assert.ok(reserved > 100, `exercised reserves (${reserved})`);
});

test('engine: short watch lists keep no tube heap', () => {
  const engine = new Engine({ clock: new FakeClock() });
  const s = engine.openSession();
  for (let i = 1; i < WATCH_HEAP_THRESHOLD; i++) engine.watch(s, `t${i}`);
  assert.equal(s.watched.length, WATCH_HEAP_THRESHOLD);
  assert.equal(s.tubeHeap, null);
  engine.watch(s, 'one-more');
  assert.ok(s.tubeHeap);
});
