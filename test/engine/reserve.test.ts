/** Engine: reserve order, blocking reserves, reserve-with-timeout, DEADLINE_SOON, cancelWait. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Harness, T0 } from '../support/engine-fixture';

describe('engine reserve order', () => {
  test('reserve: lowest (pri, id) first across watched tubes, unwatched tubes ignored', () => {
    const h = new Harness();
    const producer = h.open();
    const worker = h.open();
    h.engine.watch(worker, 'a');
    h.engine.watch(worker, 'b');
    const d10 = h.put(producer, { pri: 10 });
    h.engine.use(producer, 'a');
    const a5 = h.put(producer, { pri: 5 });
    h.engine.use(producer, 'b');
    const b10 = h.put(producer, { pri: 10 });
    h.engine.use(producer, 'c');
    h.put(producer, { pri: 0 });
    h.check();
    assert.equal(h.reserve(worker), `RESERVED ${a5}`);
    assert.equal(h.reserve(worker), `RESERVED ${d10}`);
    assert.equal(h.reserve(worker), `RESERVED ${b10}`);
    assert.equal(h.reserve(worker), 'TIMED_OUT');
    h.check();
  });

  test('reserve: priority compares as unsigned 32-bit, ties go by id', () => {
    const h = new Harness();
    const s = h.open();
    const max = h.put(s, { pri: 4294967295 });
    const a = h.put(s, { pri: 1024 });
    const b = h.put(s, { pri: 0 });
    const c = h.put(s, { pri: 1024 });
    assert.equal(h.engine.counts.urgent, 1);
    assert.deepEqual(
      [h.reserve(s), h.reserve(s), h.reserve(s), h.reserve(s)],
      [`RESERVED ${b}`, `RESERVED ${a}`, `RESERVED ${c}`, `RESERVED ${max}`],
    );
    h.check();
  });

  test('reserve: a waiting session gets a job put later into any watched tube', () => {
    const h = new Harness();
    const producer = h.open();
    const worker = h.open();
    h.engine.watch(worker, 'a');
    assert.equal(h.reserve(worker, null), null);
    assert.equal(h.engine.counts.waiting, 1);
    h.check();
    h.engine.use(producer, 'a');
    const id = h.put(producer);
    assert.deepEqual(h.wakes(worker), [`RESERVED ${id}`]);
    assert.equal(h.engine.counts.waiting, 0);
    assert.equal(h.state(id), 'reserved');
    h.check();
  });

  test('reserve: the longest-waiting session is served first', () => {
    const h = new Harness();
    const producer = h.open();
    const w1 = h.open();
    const w2 = h.open();
    const w3 = h.open();
    for (const w of [w2, w1, w3]) assert.equal(h.reserve(w, null), null);
    const ids = [h.put(producer), h.put(producer)];
    assert.deepEqual(h.wakes(w2), [`RESERVED ${ids[0]}`]);
    assert.deepEqual(h.wakes(w1), [`RESERVED ${ids[1]}`]);
    assert.deepEqual(h.wakes(w3), []);
    h.check();
  });

  test('reserve: jobs that become ready together go to waiters in (pri, id) order across tubes', () => {
    const h = new Harness();
    const producer = h.open();
    const w1 = h.open();
    const w2 = h.open();
    for (const w of [w1, w2]) {
      h.engine.watch(w, 'a');
      h.engine.watch(w, 'b');
      h.engine.ignore(w, 'default');
    }
    h.engine.use(producer, 'a');
    const a1 = h.put(producer, { pri: 1, delayMs: 1000 });
    const a10 = h.put(producer, { pri: 10, delayMs: 1000 });
    h.engine.use(producer, 'b');
    const b5 = h.put(producer, { pri: 5, delayMs: 1000 });
    assert.equal(h.reserve(w1, null), null);
    assert.equal(h.reserve(w2, null), null);
    h.advance(1000);
    assert.deepEqual(h.wakes(w1), [`RESERVED ${a1}`]);
    assert.deepEqual(h.wakes(w2), [`RESERVED ${b5}`]);
    assert.equal(h.state(a10), 'ready');
    h.check();
  });

  test('reserve: jobs released by a closing session go to waiters in (pri, id) order', () => {
    const h = new Harness();
    const producer = h.open();
    const holder = h.open();
    const w1 = h.open();
    const w2 = h.open();
    for (const s of [holder, w1, w2]) h.engine.watch(s, 'b');
    const d1 = h.put(producer, { pri: 1 });
    const d10 = h.put(producer, { pri: 10 });
    h.engine.use(producer, 'b');
    const b5 = h.put(producer, { pri: 5 });
    for (let i = 0; i < 3; i++) assert.match(h.reserve(holder) as string, /^RESERVED/);
    assert.equal(h.reserve(w1, null), null);
    assert.equal(h.reserve(w2, null), null);
    h.engine.closeSession(holder);
    assert.deepEqual(h.wakes(w1), [`RESERVED ${d1}`]);
    assert.deepEqual(h.wakes(w2), [`RESERVED ${b5}`]);
    assert.equal(h.state(d10), 'ready');
    h.check();
  });

  test('reserve: marks the session as a worker once', () => {
    const h = new Harness();
    const s = h.open();
    assert.equal(h.engine.counts.workers, 0);
    h.reserve(s);
    h.reserve(s);
    assert.equal(h.engine.counts.workers, 1);
    h.engine.closeSession(s);
    assert.equal(h.engine.counts.workers, 0);
    h.check();
  });
});

describe('engine reserve-with-timeout', () => {
  test('reserve-with-timeout: 0 answers TIMED_OUT at once when nothing is ready', () => {
    const h = new Harness();
    const s = h.open();
    assert.equal(h.reserve(s, 0), 'TIMED_OUT');
    assert.equal(s.waiting, false);
    assert.equal(h.engine.counts.waiting, 0);
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
  });

  test('reserve-with-timeout: TIMED_OUT exactly at the timeout, not 1 ms before', () => {
    const h = new Harness();
    const s = h.open();
    assert.equal(h.reserve(s, 1000), null);
    assert.equal(h.engine.nextDeadline(), T0 + 1000);
    assert.equal(h.advance(999), T0 + 1000);
    assert.deepEqual(h.wakes(s), []);
    assert.equal(s.waiting, true);
    assert.equal(h.advance(1), Number.POSITIVE_INFINITY);
    assert.deepEqual(h.wakes(s), ['TIMED_OUT']);
    assert.equal(h.engine.counts.waiting, 0);
    h.check();
  });

  test('reserve-with-timeout: a job arriving in time is reserved and no TIMED_OUT follows', () => {
    const h = new Harness();
    const producer = h.open();
    const s = h.open();
    assert.equal(h.reserve(s, 5000), null);
    h.advance(4999);
    const id = h.put(producer);
    assert.deepEqual(h.wakes(s), [`RESERVED ${id}`]);
    // Only the job's TTR is left to wait for.
    assert.equal(h.engine.nextDeadline(), T0 + 4999 + 60_000);
    h.advance(1);
    assert.deepEqual(h.wakes(s), []);
    h.check();
  });

  test('reserve-with-timeout: waiters with different timeouts expire in their own order', () => {
    const h = new Harness();
    const a = h.open();
    const b = h.open();
    const c = h.open();
    h.reserve(a, 3000);
    h.reserve(b, 1000);
    h.reserve(c, 2000);
    assert.equal(h.advance(1000), T0 + 2000);
    assert.deepEqual([h.wakes(a), h.wakes(b), h.wakes(c)], [[], ['TIMED_OUT'], []]);
    assert.equal(h.advance(5000), Number.POSITIVE_INFINITY);
    assert.deepEqual([h.wakes(a), h.wakes(c)], [['TIMED_OUT'], ['TIMED_OUT']]);
    h.check();
  });
});

describe('engine DEADLINE_SOON', () => {
  test('DEADLINE_SOON: immediate when a held job is within 1 s of its TTR and nothing is ready', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { ttrMs: 1000 });
    assert.equal(h.reserve(s), `RESERVED ${id}`);
    assert.equal(h.reserve(s, null), 'DEADLINE_SOON');
    assert.equal(h.reserve(s, 10_000), 'DEADLINE_SOON');
    assert.equal(h.state(id), 'reserved');
    assert.equal(s.waiting, false);
    h.check();
  });

  test('DEADLINE_SOON: the margin starts exactly at deadline − 1000 ms', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s, { ttrMs: 5000 });
    h.reserve(s);
    h.clock.advance(3999);
    assert.equal(h.reserve(s, 0), 'TIMED_OUT');
    h.clock.advance(1);
    assert.equal(h.reserve(s, 0), 'DEADLINE_SOON');
  });

  test('DEADLINE_SOON: not sent when a watched tube has a ready job — that job is reserved', () => {
    const h = new Harness();
    const s = h.open();
    const first = h.put(s, { ttrMs: 1000 });
    const second = h.put(s);
    assert.equal(h.reserve(s), `RESERVED ${first}`);
    assert.equal(h.reserve(s), `RESERVED ${second}`);
    h.check();
  });

  test('DEADLINE_SOON: a waiting reserve gets it at deadline − 1000 ms', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { ttrMs: 3000 });
    h.reserve(s);
    assert.equal(h.reserve(s, null), null);
    assert.equal(h.engine.nextDeadline(), T0 + 2000);
    assert.equal(h.advance(1999), T0 + 2000);
    assert.deepEqual(h.wakes(s), []);
    assert.equal(h.advance(1), T0 + 3000);
    assert.deepEqual(h.wakes(s), ['DEADLINE_SOON']);
    assert.equal(h.state(id), 'reserved');
    assert.equal(h.engine.counts.waiting, 0);
    h.check();
  });

  test('DEADLINE_SOON: wins over TIMED_OUT when both are due in the same millisecond', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s, { ttrMs: 3000 });
    h.reserve(s);
    assert.equal(h.reserve(s, 2000), null);
    h.advance(2000);
    assert.deepEqual(h.wakes(s), ['DEADLINE_SOON']);
    h.check();
  });

  test('DEADLINE_SOON: a timeout before the margin still answers TIMED_OUT', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s, { ttrMs: 10_000 });
    h.reserve(s);
    assert.equal(h.reserve(s, 1000), null);
    h.advance(1000);
    assert.deepEqual(h.wakes(s), ['TIMED_OUT']);
    h.check();
  });

  test('DEADLINE_SOON: a job put while waiting, before the margin, is reserved instead', () => {
    const h = new Harness();
    const producer = h.open();
    const s = h.open();
    h.put(s, { ttrMs: 3000 });
    h.reserve(s);
    h.reserve(s, null);
    h.advance(1999);
    const id = h.put(producer);
    assert.deepEqual(h.wakes(s), [`RESERVED ${id}`]);
    h.advance(1);
    assert.deepEqual(h.wakes(s), []);
    h.check();
  });

  test('DEADLINE_SOON: a ready job in a paused tube counts for the check but cannot be reserved', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s, { ttrMs: 1000 });
    h.reserve(s);
    const paused = h.put(s);
    h.engine.pauseTube('default', 60_000);
    // beanstalkd's conn_ready() ignores pause, so no immediate DEADLINE_SOON: the session waits
    // and its wake time (deadline − margin) is already due, so the next tick answers it.
    assert.equal(h.reserve(s, null), null);
    assert.equal(h.engine.nextDeadline(), T0);
    h.engine.tick();
    assert.deepEqual(h.wakes(s), ['DEADLINE_SOON']);
    assert.equal(h.state(paused), 'ready');
    h.check();
  });

  test('DEADLINE_SOON: DeadlineOnly waits take no job and report the margin even with jobs ready', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s, { ttrMs: 3000 });
    h.reserve(s);
    const ready = h.put(s);
    assert.equal(h.reserve(s, null, true), null);
    assert.equal(s.waiting, true);
    assert.equal(h.engine.defaultTube.waiting.size, 0);
    h.advance(2000);
    assert.deepEqual(h.wakes(s), ['DEADLINE_SOON']);
    assert.equal(h.state(ready), 'ready');
    h.check();
  });
});

describe('engine cancelWait', () => {
  test('cancelWait: ends a wait with TIMED_OUT and leaves no trace in the wait structures', () => {
    const h = new Harness();
    const producer = h.open();
    const s = h.open();
    h.engine.watch(s, 'a');
    assert.equal(h.reserve(s, 10_000), null);
    assert.equal(h.engine.cancelWait(s), true);
    assert.deepEqual(h.wakes(s), ['TIMED_OUT']);
    assert.equal(s.waiting, false);
    assert.equal(h.engine.counts.waiting, 0);
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
    h.check();
    // Neither a later job nor the old timeout reach the session.
    h.put(producer);
    h.advance(10_000);
    assert.deepEqual(h.wakes(s), []);
    assert.equal(h.engine.cancelWait(s), false);
    h.check();
  });
});
