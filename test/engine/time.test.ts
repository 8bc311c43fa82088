/** Engine: delays, TTR expiry, pause/unpause and tick's next deadline, all on a FakeClock. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import { Harness, statsJob, statsTube, T0 } from '../support/engine-fixture';

describe('engine delays', () => {
  test('delay: a delayed job becomes ready exactly at its deadline, not 1 ms before', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { delayMs: 5000 });
    assert.equal(h.state(id), 'delayed');
    assert.equal(h.engine.counts.delayed, 1);
    assert.equal(h.engine.nextDeadline(), T0 + 5000);
    assert.equal(h.advance(4999), T0 + 5000);
    assert.equal(h.state(id), 'delayed');
    assert.equal(h.reserve(s), 'TIMED_OUT');
    assert.equal(h.advance(1), Number.POSITIVE_INFINITY);
    assert.equal(h.state(id), 'ready');
    assert.equal(h.engine.counts.delayed, 0);
    assert.equal(h.engine.counts.ready, 1);
    h.check();
  });

  test('delay: jobs become ready in deadline order across tubes, each at its own deadline', () => {
    const h = new Harness();
    const s = h.open();
    const a = h.put(s, { delayMs: 3000 });
    h.engine.use(s, 'other');
    const b = h.put(s, { delayMs: 1000 });
    const c = h.put(s, { delayMs: 2000 });
    assert.equal(h.engine.peekDelayed(s)?.id, b);
    assert.equal(h.advance(1000), T0 + 2000);
    assert.deepEqual([h.state(a), h.state(b), h.state(c)], ['delayed', 'ready', 'delayed']);
    assert.equal(h.engine.peekDelayed(s)?.id, c);
    assert.equal(h.advance(1000), T0 + 3000);
    assert.deepEqual([h.state(a), h.state(c)], ['delayed', 'ready']);
    assert.equal(h.engine.peekDelayed(s), undefined);
    assert.equal(h.advance(1000), Number.POSITIVE_INFINITY);
    assert.equal(h.state(a), 'ready');
    h.check();
  });

  test('delay: a late tick makes every job due by now ready at once', () => {
    const h = new Harness();
    const s = h.open();
    const ids = [3000, 1000, 2000, 9000].map((delayMs) => h.put(s, { delayMs }));
    assert.equal(h.advance(5000), T0 + 9000);
    assert.deepEqual(
      ids.map((id) => h.state(id)),
      ['ready', 'ready', 'ready', 'delayed'],
    );
    h.check();
  });

  test('delay: a waiting worker gets the job at its deadline', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s, { delayMs: 2000 });
    assert.equal(h.reserve(w, null), null);
    h.advance(1999);
    assert.deepEqual(h.wakes(w), []);
    h.advance(1);
    assert.deepEqual(h.wakes(w), [`RESERVED ${id}`]);
    h.check();
  });

  test('delay: stats-job time-left counts down and floors', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { delayMs: 5000 });
    h.clock.advance(1);
    assert.equal(statsJob(h.engine, id)?.['time-left'], 4);
    assert.equal(statsJob(h.engine, id)?.delay, 5);
    assert.equal(statsJob(h.engine, id)?.state, 'delayed');
  });
});

describe('engine TTR', () => {
  test('ttr: a reserved job expires exactly at its deadline, counting timeouts', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { ttrMs: 3000 });
    assert.equal(h.reserve(s), `RESERVED ${id}`);
    assert.equal(h.engine.nextDeadline(), T0 + 3000);
    assert.equal(h.advance(2999), T0 + 3000);
    assert.equal(h.state(id), 'reserved');
    assert.equal(statsJob(h.engine, id)?.['time-left'], 0);
    assert.equal(h.advance(1), Number.POSITIVE_INFINITY);
    assert.equal(h.state(id), 'ready');
    assert.equal(h.engine.peek(id)?.timeouts, 1);
    assert.equal(h.engine.counts.jobTimeouts, 1);
    assert.equal(h.engine.counts.reserved, 0);
    assert.equal(s.reserved.size, 0);
    // The former owner no longer holds it.
    assert.equal(h.engine.touch(s, id), 'NOT_FOUND');
    assert.equal(h.engine.delete(s, id), 'DELETED');
    h.check();
  });

  test('ttr: a ttr below one second is raised to one second', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { ttrMs: 0 });
    assert.equal(h.engine.peek(id)?.ttrMs, 1000);
    assert.equal(statsJob(h.engine, id)?.ttr, 1);
    h.reserve(s);
    assert.equal(h.engine.nextDeadline(), T0 + 1000);
  });

  test('ttr: many idle owners whose jobs expire in the same millisecond all lose them in one tick', () => {
    const h = new Harness();
    const producer = h.open();
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(h.put(producer, { ttrMs: 2000, pri: i % 3 }));
    const owners = ids.map(() => h.open());
    for (const owner of owners) assert.match(h.reserve(owner) as string, /^RESERVED /);
    assert.equal(h.engine.counts.reserved, 50);
    h.check();
    assert.equal(h.advance(1999), T0 + 2000);
    assert.equal(h.engine.counts.reserved, 50);
    assert.equal(h.advance(1), Number.POSITIVE_INFINITY);
    assert.equal(h.engine.counts.reserved, 0);
    assert.equal(h.engine.counts.ready, 50);
    assert.equal(h.engine.counts.jobTimeouts, 50);
    for (const id of ids) assert.equal(h.engine.peek(id)?.timeouts, 1);
    for (const owner of owners) {
      assert.equal(owner.reserved.size, 0);
      assert.deepEqual(h.wakes(owner), []);
    }
    h.check();
  });

  test('ttr: one owner holding many jobs with the same deadline loses all of them', () => {
    const h = new Harness();
    const s = h.open();
    for (let i = 0; i < 10; i++) h.put(s, { ttrMs: 1000 });
    for (let i = 0; i < 10; i++) h.engine.reserveJob(s, i + 1);
    h.advance(1000);
    assert.equal(s.reserved.size, 0);
    assert.equal(h.engine.counts.jobTimeouts, 10);
    h.check();
  });

  test('ttr: a tick long after the deadline still expires every job whose deadline ≤ now', () => {
    const h = new Harness();
    const s = h.open();
    const ids = [1000, 2000, 3000].map((ttrMs) => h.put(s, { ttrMs }));
    for (const id of ids) h.engine.reserveJob(s, id);
    assert.equal(h.advance(2500), T0 + 3000);
    assert.deepEqual(
      ids.map((id) => h.state(id)),
      ['ready', 'ready', 'reserved'],
    );
    h.check();
  });

  test('ttr: an expired job goes to a waiting worker of its tube', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s, { ttrMs: 1000 });
    h.reserve(s);
    assert.equal(h.reserve(w, null), null);
    h.advance(1000);
    assert.deepEqual(h.wakes(w), [`RESERVED ${id}`]);
    assert.equal(h.engine.peek(id)?.reservedBy, w);
    assert.equal(h.engine.peek(id)?.reserves, 2);
    h.check();
  });

  test('touch: gives the reserver a full TTR again', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { ttrMs: 3000 });
    h.reserve(s);
    h.clock.advance(2000);
    assert.equal(h.engine.touch(s, id), 'TOUCHED');
    assert.equal(h.engine.nextDeadline(), T0 + 5000);
    assert.equal(h.advance(2999), T0 + 5000);
    assert.equal(h.state(id), 'reserved');
    h.advance(1);
    assert.equal(h.state(id), 'ready');
    h.check();
  });

  test('touch: re-orders the TTR heaps so an earlier job still expires first', () => {
    const h = new Harness();
    const s = h.open();
    const a = h.put(s, { ttrMs: 2000 });
    const b = h.put(s, { ttrMs: 3000 });
    h.engine.reserveJob(s, a);
    h.engine.reserveJob(s, b);
    h.clock.advance(1500);
    h.engine.touch(s, a); // a: T0+3500, b: T0+3000
    assert.equal(h.engine.table.id[s.reserved.peek()], b);
    assert.equal(h.advance(1500), T0 + 3500);
    assert.deepEqual([h.state(a), h.state(b)], ['reserved', 'ready']);
    h.check();
  });
});

describe('engine pause', () => {
  test('pause: reserve ignores a paused tube until the pause ends exactly', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s);
    assert.equal(h.engine.pauseTube('default', 2000), 'PAUSED');
    assert.equal(h.reserve(s, 0), 'TIMED_OUT');
    assert.equal(h.engine.peekReady(s)?.id, id);
    assert.equal(h.reserve(s, null), null);
    assert.equal(h.engine.nextDeadline(), T0 + 2000);
    h.check();
    assert.equal(h.advance(1999), T0 + 2000);
    assert.deepEqual(h.wakes(s), []);
    h.advance(1);
    assert.deepEqual(h.wakes(s), [`RESERVED ${id}`]);
    assert.equal(h.engine.tubes.get('default')?.paused, false);
    h.check();
  });

  test('pause: stats-tube shows the pause and the floored time left, both 0 after it ends', () => {
    const h = new Harness();
    h.open();
    h.engine.pauseTube('default', 2000);
    h.clock.advance(1);
    let st = statsTube(h.engine, 'default');
    assert.deepEqual([st?.pause, st?.['pause-time-left'], st?.['cmd-pause-tube']], [2, 1, 1]);
    h.advance(2000);
    st = statsTube(h.engine, 'default');
    assert.deepEqual([st?.pause, st?.['pause-time-left']], [0, 0]);
  });

  test('pause: pauseTube(name, 0) unpauses and wakes waiters at once, without a tick', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s);
    h.engine.pauseTube('default', 86_400_000);
    assert.equal(h.reserve(w, null), null);
    assert.equal(h.engine.pauseTube('default', 0), 'PAUSED');
    assert.deepEqual(h.wakes(w), [`RESERVED ${id}`]);
    assert.equal(h.engine.nextDeadline(), T0 + 60_000);
    assert.equal(statsTube(h.engine, 'default')?.pause, 0);
    h.check();
  });

  test('pause: re-pausing replaces the previous pause', () => {
    const h = new Harness();
    const s = h.open();
    h.put(s);
    h.engine.pauseTube('default', 10_000);
    h.engine.pauseTube('default', 1000);
    assert.equal(h.engine.nextDeadline(), T0 + 1000);
    h.advance(1000);
    assert.match(h.reserve(s) as string, /^RESERVED/);
    h.engine.pauseTube('default', 1000);
    h.engine.pauseTube('default', 10_000);
    h.advance(1000);
    assert.equal(h.engine.tubes.get('default')?.paused, true);
    assert.equal(h.engine.nextDeadline(), T0 + 11_000);
    h.check();
  });

  test('pause: an unknown tube is NOT_FOUND and not created', () => {
    const h = new Harness();
    assert.equal(h.engine.pauseTube('nope', 1000), 'NOT_FOUND');
    assert.equal(h.engine.findTube('nope'), undefined);
    assert.equal(h.engine.counts.tubes, 1);
  });

  test('pause: a paused tube that is dropped loses its pause', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.watch(s, 'p');
    h.engine.pauseTube('p', 10_000);
    h.engine.ignore(s, 'p');
    assert.equal(h.engine.findTube('p'), undefined);
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
    h.engine.watch(s, 'p');
    assert.equal(h.engine.findTube('p')?.paused, false);
    h.check();
  });

  test('pause: only the paused tube is skipped; other watched tubes still serve', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.watch(s, 'b');
    const best = h.put(s, { pri: 0 });
    h.engine.use(s, 'b');
    const other = h.put(s, { pri: 100 });
    h.engine.pauseTube('default', 5000);
    assert.equal(h.reserve(s), `RESERVED ${other}`);
    assert.equal(h.state(best), 'ready');
    h.check();
  });

  test('pause: several tubes unpausing in the same tick hand out jobs in (pri, id) order', () => {
    const h = new Harness();
    const s = h.open();
    const w1 = h.open();
    const w2 = h.open();
    for (const w of [w1, w2]) h.engine.watch(w, 'b');
    const d1 = h.put(s, { pri: 1 });
    h.put(s, { pri: 9 });
    h.engine.use(s, 'b');
    const b5 = h.put(s, { pri: 5 });
    h.engine.pauseTube('default', 1000);
    h.engine.pauseTube('b', 1000);
    h.reserve(w1, null);
    h.reserve(w2, null);
    h.advance(1000);
    assert.deepEqual([h.wakes(w1), h.wakes(w2)], [[`RESERVED ${d1}`], [`RESERVED ${b5}`]]);
    h.check();
  });
});

describe('engine tick', () => {
  test('tick: returns Infinity with nothing pending, else the soonest of delay, pause, TTR and wait', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    assert.equal(h.engine.tick(), Number.POSITIVE_INFINITY);
    h.put(s, { delayMs: 9000 });
    assert.equal(h.engine.tick(), T0 + 9000);
    h.engine.pauseTube('default', 8000);
    assert.equal(h.engine.tick(), T0 + 8000);
    h.engine.watch(w, 'other');
    h.engine.ignore(w, 'default');
    h.reserve(w, 7000);
    assert.equal(h.engine.tick(), T0 + 7000);
    h.engine.use(s, 'x');
    h.engine.watch(s, 'x');
    h.put(s, { ttrMs: 6000 });
    assert.match(h.reserve(s) as string, /^RESERVED/);
    assert.equal(h.engine.tick(), T0 + 6000);
    // A waiting owner must be looked at a margin before its TTR.
    assert.equal(h.reserve(s, null), null);
    assert.equal(h.engine.tick(), T0 + 5000);
    h.check();
    assert.equal(h.advance(5000), T0 + 6000); // s: DEADLINE_SOON
    assert.deepEqual(h.wakes(s), ['DEADLINE_SOON']);
    assert.equal(h.advance(1000), T0 + 7000); // the job's TTR
    assert.equal(h.advance(1000), T0 + 8000); // w: TIMED_OUT
    assert.deepEqual(h.wakes(w), ['TIMED_OUT']);
    assert.equal(h.advance(1000), T0 + 9000); // unpause
    assert.equal(h.advance(1000), Number.POSITIVE_INFINITY); // delayed → ready
    h.check();
  });
});

test('engine: a tick that comes late answers a waiter DEADLINE_SOON instead of handing it its own expired job', () => {
  const clock = new FakeClock();
  const engine = new Engine({ clock });
  const owner = engine.openSession();
  const outcomes: string[] = [];
  owner.onWake = (o) => outcomes.push(o.type);
  engine.put(owner, 0, 0, 2000, Buffer.from('x\r\n'), true);
  const first = engine.reserve(owner, null);
  assert.equal(first?.type, 'reserved');
  assert.equal(engine.reserve(owner, null), null, 'waits: the held job is not yet within the margin');
  clock.advance(2500); // past the margin (1000 ms) and past the TTR deadline (2000 ms)
  engine.tick();
  assert.deepEqual(outcomes, ['DEADLINE_SOON']);
  assert.equal(engine.counts.ready, 1, 'the expired job went back to ready');
  assert.equal(engine.counts.jobTimeouts, 1);
});
