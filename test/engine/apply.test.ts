/**
 * Engine: applyRecord / applyDelete, the standby's side of replication. A primary engine runs
 * random commands; every record it journals (plus compaction copies taken from jobSource) is
 * applied to a mirror engine. After every step the mirror must hold the primary's jobs with the
 * state replay would give them (reserved → ready), the counters of their latest record, the same
 * buried order, and pass the full structural check.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import { NO_JOB } from '../../src/engine/job-table';
import { type JobRecord, JobState } from '../../src/engine/journal';
import type { Session } from '../../src/engine/session';
import { checkEngine, Harness, prng, RecordingJournal, T0 } from '../support/engine-fixture';

class Mirror {
  readonly clock = new FakeClock(T0);
  readonly engine = new Engine({ clock: this.clock });
  /** What replay would hold: each live job's latest record. */
  readonly latest = new Map<number, JobRecord>();

  constructor(private readonly journal: RecordingJournal) {}

  /** Applies everything the primary journaled since the last call. */
  sync(nowMs: number): void {
    this.clock.set(nowMs);
    for (const call of this.journal.take()) {
      if (call.op === 'delete') {
        this.latest.delete(call.id);
        this.engine.applyDelete(call.id);
      } else if (call.op === 'put') {
        this.latest.set(call.record.id, call.record);
        this.engine.applyRecord(call.record, Buffer.from(call.body, 'latin1'));
      } else {
        const tube = this.latest.get(call.record.id)?.tube;
        if (tube !== undefined) this.latest.set(call.record.id, { ...call.record, tube });
        this.engine.applyRecord(call.record, undefined);
      }
    }
    this.engine.tick();
  }

  /** A compaction copy of job `id` as the binlog writes it. */
  copy(primary: Engine, id: number): void {
    const source = primary.jobSource(id);
    if (!source) return;
    this.latest.set(id, source.record);
    this.engine.applyRecord(source.record, source.body);
  }
}

function buriedOrder(engine: Engine): string[] {
  const order: string[] = [];
  for (const tube of engine.tubeList) {
    for (let j = tube.buriedHead; j !== NO_JOB; j = engine.table.next[j]!)
      order.push(`${tube.name}:${engine.table.id[j]}`);
  }
  return order.sort();
}

function compare(primary: Engine, mirror: Mirror, step: number): void {
  const m = mirror.engine;
  assert.deepEqual([...m.jobs.keys()].sort(), [...primary.jobs.keys()].sort(), `step ${step}: ids`);
  for (const [id, job] of primary.jobs) {
    const copy = m.peek(id);
    assert.ok(copy, `step ${step}: job ${id} missing`);
    const expectedState = job.state === JobState.Reserved ? JobState.Ready : job.state;
    assert.equal(copy.state, expectedState, `step ${step}: job ${id} state`);
    assert.equal(copy.tube.name, job.tube.name);
    assert.equal(copy.pri, job.pri, `step ${step}: job ${id} pri`);
    assert.ok(copy.bodyWithCrlf.equals(job.bodyWithCrlf), `step ${step}: job ${id} body`);
    if (expectedState === JobState.Delayed) assert.equal(copy.deadlineAtMs, job.deadlineAtMs);
    const logged = mirror.latest.get(id) as JobRecord;
    const record = copy.toRecord();
    for (const key of ['reserves', 'timeouts', 'releases', 'buries', 'kicks', 'ttrMs', 'delayMs'] as const)
      assert.equal(record[key], logged[key], `step ${step}: job ${id} ${key}`);
  }
  assert.deepEqual(buriedOrder(m), buriedOrder(primary), `step ${step}: buried order`);
  // Buried FIFO order within each tube, compared as sequences.
  for (const tube of primary.tubeList) {
    const ids = (e: Engine): number[] => {
      const t = e.findTube(tube.name);
      const out: number[] = [];
      for (let j = t?.buriedHead ?? NO_JOB; j !== NO_JOB; j = e.table.next[j]!) out.push(e.table.id[j]!);
      return out;
    };
    assert.deepEqual(ids(m), ids(primary), `step ${step}: ${tube.name} buried sequence`);
  }
  checkEngine(m, []);
}

describe('engine apply (replication)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`apply: a mirror fed the journal matches the primary under random commands (seed ${seed})`, () => {
      const journal = new RecordingJournal();
      const h = new Harness({ journal });
      const mirror = new Mirror(journal);
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const sessions: Session[] = [h.open(), h.open(), h.open()];
      for (const s of sessions) h.engine.use(s, pick(['a', 'b']));
      for (let step = 0; step < 600; step++) {
        const s = pick(sessions);
        const ids = [...h.engine.jobs.keys()];
        const r = random();
        if (r < 0.3) {
          h.engine.use(s, pick(['a', 'b', 'c']));
          h.put(s, {
            pri: Math.floor(random() * 3000),
            delayMs: random() < 0.3 ? 1000 : 0,
            text: `j${step}`,
          });
        } else if (r < 0.45) {
          h.engine.watch(s, pick(['a', 'b', 'c']));
          h.reserve(s, 0);
        } else if (r < 0.55 && ids.length > 0) {
          h.engine.delete(s, pick(ids));
        } else if (r < 0.65 && s.reserved.size > 0) {
          const job = h.engine.view(s.reserved.peek());
          h.engine.release(s, job.id, Math.floor(random() * 3000), random() < 0.5 ? 2000 : 0);
        } else if (r < 0.75 && s.reserved.size > 0) {
          h.engine.bury(s, h.engine.view(s.reserved.peek()).id, Math.floor(random() * 3000));
        } else if (r < 0.82) {
          h.engine.kick(s, 1 + Math.floor(random() * 3));
        } else if (r < 0.86 && ids.length > 0) {
          h.engine.kickJob(pick(ids));
        } else if (r < 0.92 && ids.length > 0) {
          mirror.copy(h.engine, pick(ids)); // compaction copy: a full record of the current state
        } else if (r < 0.95) {
          h.engine.closeSession(s);
          sessions[sessions.indexOf(s)] = h.open();
        } else {
          h.advance(700);
        }
        mirror.sync(h.clock.nowMs());
        compare(h.engine, mirror, step);
      }
    });
  }

  test('apply: a compaction copy of a buried job keeps its place in the buried FIFO', () => {
    const journal = new RecordingJournal();
    const h = new Harness({ journal });
    const mirror = new Mirror(journal);
    const s = h.open();
    const ids = [h.put(s), h.put(s), h.put(s)];
    for (const id of ids) {
      assert.equal(h.reserve(s, 0), `RESERVED ${id}`);
      h.engine.bury(s, id, 1);
    }
    mirror.sync(h.clock.nowMs());
    mirror.copy(h.engine, ids[0] as number);
    compare(h.engine, mirror, 0);
  });

  test('apply: a state record for an unknown job is ignored; a full record creates it with its state', () => {
    const m = new Engine({ clock: new FakeClock(T0) });
    const record: JobRecord = {
      id: 7,
      tube: 't',
      pri: 5,
      delayMs: 0,
      ttrMs: 1000,
      createdAtMs: T0,
      deadlineAtMs: 0,
      state: JobState.Buried,
      reserves: 2,
      timeouts: 1,
      releases: 0,
      buries: 1,
      kicks: 0,
    };
    m.applyRecord(record, undefined);
    assert.equal(m.peek(7), undefined);
    m.applyRecord(record, Buffer.from('hello'));
    assert.equal(m.peek(7)?.state, JobState.Buried);
    assert.equal(m.peek(7)?.bodyWithCrlf.toString(), 'hello\r\n');
    m.applyRecord({ ...record, state: JobState.Reserved, reserves: 3 }, undefined);
    assert.equal(m.peek(7)?.state, JobState.Ready, 'reserved on the primary is ready on a standby');
    assert.equal(m.peek(7)?.toRecord().reserves, 3);
    m.applyRecord({ ...record, state: JobState.Delayed, deadlineAtMs: T0 - 1 }, undefined);
    assert.equal(m.peek(7)?.state, JobState.Ready, 'a delay that already ran out is ready, as in replay');
    m.applyDelete(7);
    m.applyDelete(7);
    assert.equal(m.counts.ready, 0);
    assert.equal(m.findTube('t'), undefined, 'the emptied tube is gone');
  });

  test('apply: removeAllJobs empties the engine but keeps sessions, their tubes and the id sequence', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 'kept');
    h.engine.watch(s, 'kept');
    for (let i = 0; i < 100; i++) h.put(s, { text: `b${i}` });
    assert.equal(h.reserve(s, 0), 'RESERVED 1');
    h.engine.removeAllJobs();
    assert.equal(h.engine.jobs.size, 0);
    assert.equal(h.engine.counts.reserved, 0);
    assert.ok(h.engine.findTube('kept'));
    assert.equal(h.put(s), 101, 'ids are never reused');
    h.check();
  });
});
