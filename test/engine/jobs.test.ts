/** Engine: ownership, delete/release/bury, kick and kick-job, reserve-job, closeSession, unreserve. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Harness, statsJob, statsTube, T0 } from '../support/engine-fixture';

describe('engine ownership', () => {
  test('ownership: delete/release/bury/touch of another session’s reserved job → NOT_FOUND', () => {
    const h = new Harness();
    const owner = h.open();
    const other = h.open();
    const id = h.put(owner);
    h.reserve(owner);
    assert.equal(h.engine.delete(other, id), 'NOT_FOUND');
    assert.equal(h.engine.release(other, id, 0, 0), 'NOT_FOUND');
    assert.equal(h.engine.bury(other, id, 0), 'NOT_FOUND');
    assert.equal(h.engine.touch(other, id), 'NOT_FOUND');
    assert.equal(h.engine.unreserve(other, id), 'NOT_FOUND');
    assert.equal(h.engine.reserveJob(other, id), 'NOT_FOUND');
    assert.equal(h.engine.kickJob(id), 'NOT_FOUND');
    assert.equal(h.engine.peek(id)?.reservedBy, owner);
    assert.equal(h.engine.touch(owner, id), 'TOUCHED');
    assert.equal(h.engine.delete(owner, id), 'DELETED');
    h.check();
  });

  test('ownership: ready, delayed and buried jobs are deletable by any session, in any tube', () => {
    const h = new Harness();
    const producer = h.open();
    const stranger = h.open();
    h.engine.use(producer, 't');
    const ready = h.put(producer);
    const delayed = h.put(producer, { delayMs: 5000 });
    const buried = h.put(producer);
    h.engine.watch(producer, 't');
    h.engine.reserveJob(producer, buried);
    assert.equal(h.engine.bury(producer, buried, 0), 'BURIED');
    for (const id of [ready, delayed, buried]) assert.equal(h.engine.delete(stranger, id), 'DELETED');
    assert.equal(h.engine.delete(stranger, ready), 'NOT_FOUND');
    assert.equal(h.engine.delete(stranger, 999), 'NOT_FOUND');
    assert.equal(statsTube(h.engine, 't')?.['cmd-delete'], 3);
    assert.equal(h.engine.jobs.size, 0);
    h.check();
  });

  test('ownership: release/bury/touch of a job that is not reserved → NOT_FOUND', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s);
    assert.equal(h.engine.release(s, id, 0, 0), 'NOT_FOUND');
    assert.equal(h.engine.bury(s, id, 0), 'NOT_FOUND');
    assert.equal(h.engine.touch(s, id), 'NOT_FOUND');
    assert.equal(h.engine.unreserve(s, id), 'NOT_FOUND');
    assert.equal(h.state(id), 'ready');
  });
});

describe('engine release and bury', () => {
  test('release: sets the new priority and returns the job to ready', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { pri: 2000 });
    h.reserve(s);
    assert.equal(h.engine.counts.urgent, 0);
    assert.equal(h.engine.release(s, id, 5, 0), 'RELEASED');
    const job = h.engine.peek(id);
    assert.deepEqual([job?.state, job?.pri, job?.releases], ['ready', 5, 1]);
    assert.equal(h.engine.counts.urgent, 1);
    assert.equal(statsTube(h.engine, 'default')?.['current-jobs-urgent'], 1);
    h.check();
  });

  test('release: with a delay the job is delayed until now + delay', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s);
    h.reserve(s);
    h.clock.advance(500);
    assert.equal(h.engine.release(s, id, 0, 3000), 'RELEASED');
    assert.equal(h.state(id), 'delayed');
    assert.equal(statsJob(h.engine, id)?.delay, 3);
    assert.equal(h.engine.nextDeadline(), T0 + 3500);
    h.advance(2999);
    assert.equal(h.state(id), 'delayed');
    h.advance(1);
    assert.equal(h.state(id), 'ready');
    h.check();
  });

  test('bury: appends to the tube’s buried FIFO; peek-buried shows the oldest', () => {
    const h = new Harness();
    const s = h.open();
    const ids = [h.put(s), h.put(s), h.put(s)];
    for (const id of [ids[1], ids[0], ids[2]] as number[]) {
      h.engine.reserveJob(s, id);
      assert.equal(h.engine.bury(s, id, 7), 'BURIED');
    }
    assert.equal(h.engine.peekBuried(s)?.id, ids[1]);
    assert.equal(h.engine.peek(ids[0] as number)?.buries, 1);
    assert.equal(h.engine.peek(ids[0] as number)?.pri, 7);
    assert.equal(h.engine.counts.buried, 3);
    h.check();
  });
});

describe('engine kick', () => {
  function buryAll(h: Harness, ids: number[]): void {
    const s = h.sessions[0];
    assert.ok(s);
    for (const id of ids) {
      h.engine.reserveJob(s, id);
      assert.equal(h.engine.bury(s, id, 0), 'BURIED');
    }
  }

  test('kick: buried jobs first, oldest first, up to the bound; delayed ones untouched', () => {
    const h = new Harness();
    const s = h.open();
    const delayed = h.put(s, { delayMs: 5000 });
    const b = [h.put(s), h.put(s), h.put(s)];
    buryAll(h, [b[2], b[0], b[1]] as number[]);
    assert.equal(h.engine.kick(s, 2), 2);
    assert.deepEqual(
      b.map((id) => h.state(id)),
      ['ready', 'buried', 'ready'],
    );
    assert.equal(h.engine.peek(b[2] as number)?.kicks, 1);
    assert.equal(h.engine.kick(s, 100), 1);
    assert.equal(h.state(delayed), 'delayed');
    h.check();
  });

  test('kick: with nothing buried, delayed jobs soonest first', () => {
    const h = new Harness();
    const s = h.open();
    const late = h.put(s, { delayMs: 9000 });
    const soon = h.put(s, { delayMs: 1000 });
    const mid = h.put(s, { delayMs: 5000 });
    assert.equal(h.engine.kick(s, 2), 2);
    assert.deepEqual([h.state(soon), h.state(mid), h.state(late)], ['ready', 'ready', 'delayed']);
    assert.equal(h.engine.kick(s, 4294967295), 1);
    assert.equal(h.engine.kick(s, 10), 0);
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
    h.check();
  });

  test('kick: only the used tube; a bound of 0 kicks nothing', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { delayMs: 1000 });
    assert.equal(h.engine.kick(s, 0), 0);
    h.engine.use(s, 'other');
    assert.equal(h.engine.kick(s, 10), 0);
    assert.equal(h.state(id), 'delayed');
  });

  test('kick: a kicked job goes to a waiting worker', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s, { delayMs: 1000 });
    h.reserve(w, null);
    h.engine.kick(s, 1);
    assert.deepEqual(h.wakes(w), [`RESERVED ${id}`]);
    h.check();
  });

  test('kick-job: buried or delayed jobs in any tube; ready, reserved or missing → NOT_FOUND', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 'elsewhere');
    const buried = h.put(s);
    const delayed = h.put(s, { delayMs: 1000 });
    const ready = h.put(s);
    buryAll(h, [buried]);
    h.engine.use(s, 'default');
    assert.equal(h.engine.kickJob(buried), 'KICKED');
    assert.equal(h.engine.kickJob(buried), 'NOT_FOUND');
    assert.equal(h.engine.kickJob(delayed), 'KICKED');
    assert.equal(h.engine.kickJob(ready), 'NOT_FOUND');
    assert.equal(h.engine.kickJob(12345), 'NOT_FOUND');
    h.engine.reserveJob(s, ready);
    assert.equal(h.engine.kickJob(ready), 'NOT_FOUND');
    assert.deepEqual(
      [buried, delayed].map((id) => h.engine.peek(id)?.kicks),
      [1, 1],
    );
    h.check();
  });
});

describe('engine reserve-job', () => {
  test('reserve-job: takes a ready, delayed or buried job, ignoring watch list and pause', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    h.engine.use(s, 'unwatched');
    const ready = h.put(s);
    const delayed = h.put(s, { delayMs: 10_000 });
    const buried = h.put(s);
    h.engine.watch(s, 'unwatched');
    h.engine.reserveJob(s, buried);
    h.engine.bury(s, buried, 0);
    h.engine.pauseTube('unwatched', 60_000);
    for (const id of [ready, delayed, buried]) {
      const job = h.engine.reserveJob(w, id);
      assert.notEqual(job, 'NOT_FOUND');
      assert.equal(h.state(id), 'reserved');
      assert.equal(h.engine.peek(id)?.reservedBy, w);
    }
    assert.equal(h.engine.counts.workers, 2);
    assert.equal(h.engine.nextDeadline(), T0 + 60_000);
    h.check();
    // Released without delay, the formerly delayed job is ready.
    assert.equal(h.engine.release(w, delayed, 0, 0), 'RELEASED');
    assert.equal(h.state(delayed), 'ready');
    h.check();
  });

  test('reserve-job: a reserved job (own or another’s) or a missing id → NOT_FOUND', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s);
    assert.notEqual(h.engine.reserveJob(s, id), 'NOT_FOUND');
    assert.equal(h.engine.reserveJob(s, id), 'NOT_FOUND');
    assert.equal(h.engine.reserveJob(w, id), 'NOT_FOUND');
    assert.equal(h.engine.reserveJob(w, 99), 'NOT_FOUND');
    assert.equal(h.engine.peek(id)?.reserves, 1);
  });

  test('reserve-job: never answers DEADLINE_SOON; the job expires to ready after its TTR', () => {
    const h = new Harness();
    const s = h.open();
    const first = h.put(s, { ttrMs: 1000 });
    const second = h.put(s, { delayMs: 5000, ttrMs: 1000 });
    h.engine.reserveJob(s, first);
    assert.notEqual(h.engine.reserveJob(s, second), 'NOT_FOUND');
    h.advance(1000);
    assert.deepEqual([h.state(first), h.state(second)], ['ready', 'ready']);
    h.check();
  });
});

describe('engine closeSession and unreserve', () => {
  test('closeSession: reservations go back to ready at once, no timeout counted', () => {
    const h = new Harness();
    const s = h.open();
    const ids = [h.put(s), h.put(s)];
    h.reserve(s);
    h.reserve(s);
    h.engine.closeSession(s);
    for (const id of ids) {
      assert.equal(h.state(id), 'ready');
      assert.equal(h.engine.peek(id)?.timeouts, 0);
    }
    assert.equal(h.engine.counts.jobTimeouts, 0);
    assert.equal(h.engine.counts.sessions, 0);
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
    h.engine.closeSession(s);
    assert.equal(h.engine.counts.sessions, 0);
    h.check();
  });

  test('closeSession: a waiting session stops waiting and its tubes may go', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 'u');
    h.engine.watch(s, 'w');
    h.reserve(s, 5000);
    h.engine.closeSession(s);
    assert.equal(h.engine.counts.waiting, 0);
    assert.equal(h.engine.findTube('u'), undefined);
    assert.equal(h.engine.findTube('w'), undefined);
    h.advance(5000);
    assert.deepEqual(h.wakes(s), []);
    h.check();
  });

  test('closeSession: released jobs go to a waiting worker', () => {
    const h = new Harness();
    const s = h.open();
    const w = h.open();
    const id = h.put(s);
    h.reserve(s);
    h.reserve(w, null);
    h.engine.closeSession(s);
    assert.deepEqual(h.wakes(w), [`RESERVED ${id}`]);
    assert.equal(h.engine.peek(id)?.reserves, 2);
    h.check();
  });

  test('unreserve: the job is ready again and reserves is restored', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s, { pri: 3 });
    h.reserve(s);
    assert.equal(h.engine.peek(id)?.reserves, 1);
    assert.equal(h.engine.unreserve(s, id), 'UNRESERVED');
    assert.deepEqual(
      [h.state(id), h.engine.peek(id)?.reserves, h.engine.peek(id)?.timeouts, h.engine.peek(id)?.releases],
      ['ready', 0, 0, 0],
    );
    assert.equal(h.engine.unreserve(s, id), 'NOT_FOUND');
    h.check();
  });
});
