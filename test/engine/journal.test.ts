/** Engine: what each operation writes to the journal, journal failures, and restoreJob. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type JobRecord, JobState } from '../../src/engine/journal';
import { body, Harness, RecordingJournal, statsJob, statsTube, T0 } from '../support/engine-fixture';

function setup(): { h: Harness; journal: RecordingJournal } {
  const journal = new RecordingJournal();
  return { h: new Harness({ journal }), journal };
}

describe('engine journal', () => {
  test('journal: put writes one full record with the body (CRLF stripped)', () => {
    const { h, journal } = setup();
    const s = h.open();
    h.engine.use(s, 'jt');
    const id = h.put(s, { pri: 9, ttrMs: 2500, text: 'a\r\nb' });
    const delayed = h.put(s, { delayMs: 4000, ttrMs: 0 });
    assert.deepEqual(journal.take(), [
      {
        op: 'put',
        body: 'a\r\nb',
        record: {
          id,
          tube: 'jt',
          pri: 9,
          delayMs: 0,
          ttrMs: 2500,
          createdAtMs: T0,
          deadlineAtMs: 0,
          state: JobState.Ready,
          reserves: 0,
          timeouts: 0,
          releases: 0,
          buries: 0,
          kicks: 0,
        },
      },
      {
        op: 'put',
        body: 'x',
        record: {
          id: delayed,
          tube: 'jt',
          pri: 0,
          delayMs: 4000,
          ttrMs: 1000,
          createdAtMs: T0,
          deadlineAtMs: T0 + 4000,
          state: JobState.Delayed,
          reserves: 0,
          timeouts: 0,
          releases: 0,
          buries: 0,
          kicks: 0,
        },
      },
    ]);
    assert.equal(h.engine.lastJournalSeq, 2);
  });

  test('journal: reserve, touch, TTR expiry, delay expiry, close and unreserve write nothing', () => {
    const { h, journal } = setup();
    const s = h.open();
    const a = h.put(s, { ttrMs: 1000 });
    h.put(s, { delayMs: 500 });
    journal.take();
    h.reserve(s);
    h.engine.touch(s, a);
    h.advance(500);
    h.advance(500);
    h.reserve(s);
    h.engine.unreserve(s, a);
    h.reserve(s);
    h.engine.closeSession(s);
    h.engine.pauseTube('default', 1000);
    assert.deepEqual(journal.take(), []);
    assert.equal(h.engine.lastJournalSeq, 2);
  });

  test('journal: release, bury, kick and kick-job write the new state; delete writes the id', () => {
    const { h, journal } = setup();
    const s = h.open();
    const id = h.put(s, { pri: 50 });
    journal.take();
    const only = (): JobRecord => {
      const calls = journal.take();
      assert.equal(calls.length, 1);
      const call = calls[0];
      assert.ok(call && call.op === 'update');
      return call.record;
    };

    h.reserve(s);
    h.clock.advance(100);
    assert.equal(h.engine.release(s, id, 7, 0), 'RELEASED');
    let r = only();
    assert.deepEqual(
      [r.state, r.pri, r.delayMs, r.deadlineAtMs, r.releases, r.reserves],
      ['ready', 7, 0, 0, 1, 1],
    );

    h.reserve(s);
    assert.equal(h.engine.release(s, id, 8, 3000), 'RELEASED');
    r = only();
    assert.deepEqual(
      [r.state, r.pri, r.delayMs, r.deadlineAtMs, r.releases],
      ['delayed', 8, 3000, T0 + 100 + 3000, 2],
    );

    assert.equal(h.engine.kick(s, 1), 1);
    r = only();
    assert.deepEqual([r.state, r.deadlineAtMs, r.kicks], ['ready', 0, 1]);

    h.reserve(s);
    assert.equal(h.engine.bury(s, id, 9), 'BURIED');
    r = only();
    assert.deepEqual([r.state, r.pri, r.buries], ['buried', 9, 1]);

    assert.equal(h.engine.kickJob(id), 'KICKED');
    r = only();
    assert.deepEqual([r.state, r.kicks], ['ready', 2]);

    const seqBefore = h.engine.lastJournalSeq;
    assert.equal(h.engine.delete(s, id), 'DELETED');
    assert.deepEqual(journal.take(), [{ op: 'delete', id }]);
    assert.equal(h.engine.lastJournalSeq, seqBefore + 1);
    assert.equal(h.engine.delete(s, id), 'NOT_FOUND');
    assert.deepEqual(journal.take(), []);
  });

  test('journal full: put → OUT_OF_MEMORY, nothing kept, the id is burned', () => {
    const { h, journal } = setup();
    const s = h.open();
    journal.failing = true;
    assert.deepEqual(h.engine.put(s, 0, 0, 1000, body('x'), true), {
      word: 'OUT_OF_MEMORY',
      reason: 'binlog',
    });
    assert.equal(h.engine.jobs.size, 0);
    assert.equal(h.engine.counts.totalJobs, 0);
    assert.equal(statsTube(h.engine, 'default')?.['total-jobs'], 0);
    journal.failing = false;
    assert.equal(h.put(s), 2);
    h.check();
  });

  test('journal full: a delayed put that fails leaves nothing delayed', () => {
    const { h, journal } = setup();
    const s = h.open();
    journal.failing = true;
    assert.deepEqual(h.engine.put(s, 0, 5000, 1000, body('x'), true), {
      word: 'OUT_OF_MEMORY',
      reason: 'binlog',
    });
    assert.equal(h.engine.nextDeadline(), Number.POSITIVE_INFINITY);
    h.check();
  });

  test('journal full: bury → INTERNAL_ERROR and the job stays reserved, unchanged', () => {
    const { h, journal } = setup();
    const s = h.open();
    const id = h.put(s, { pri: 4 });
    h.reserve(s);
    journal.failing = true;
    assert.equal(h.engine.bury(s, id, 99), 'INTERNAL_ERROR');
    const job = h.engine.peek(id);
    assert.deepEqual([job?.state, job?.reservedBy, job?.pri, job?.buries], ['reserved', s, 4, 0]);
    h.check();
  });

  test('journal full: release with a delay is refused and the job stays reserved; without, it is released', () => {
    const { h, journal } = setup();
    const s = h.open();
    const id = h.put(s, { pri: 4 });
    h.reserve(s);
    journal.failing = true;
    assert.equal(h.engine.release(s, id, 1, 5000), 'OUT_OF_MEMORY');
    const job = h.engine.peek(id);
    assert.deepEqual([job?.state, job?.reservedBy, job?.pri, job?.releases], ['reserved', s, 4, 0]);
    assert.equal(h.engine.nextDeadline(), T0 + 60_000);
    h.check();
    assert.equal(h.engine.release(s, id, 1, 0), 'RELEASED');
    assert.deepEqual([job?.state, job?.pri, job?.releases], ['ready', 1, 1]);
    h.check();
  });

  test('journal full: kick leaves the job where it was', () => {
    const { h, journal } = setup();
    const s = h.open();
    const id = h.put(s, { delayMs: 1000 });
    journal.failing = true;
    assert.equal(h.engine.kick(s, 5), 0);
    assert.equal(h.engine.kickJob(id), 'NOT_FOUND');
    assert.equal(h.state(id), 'delayed');
    h.check();
  });

  test('journal full: delete still works (its space was reserved by put)', () => {
    const { h, journal } = setup();
    const s = h.open();
    const id = h.put(s);
    journal.failing = true;
    assert.equal(h.engine.delete(s, id), 'DELETED');
    h.check();
  });
});

describe('engine restoreJob', () => {
  const record = (id: number, state: JobRecord['state'], extra: Partial<JobRecord> = {}): JobRecord => ({
    id,
    tube: 'r',
    pri: 10,
    delayMs: 0,
    ttrMs: 5000,
    createdAtMs: T0 - 10_000,
    deadlineAtMs: 0,
    state,
    reserves: 3,
    timeouts: 1,
    releases: 2,
    buries: 1,
    kicks: 4,
    ...extra,
  });

  test('restoreJob: each state comes back; reserved → ready; counters and age survive', () => {
    const h = new Harness();
    h.engine.restoreJob(record(4, JobState.Ready), Buffer.from('four'));
    h.engine.restoreJob(record(7, JobState.Reserved), Buffer.from('seven'));
    h.engine.restoreJob(record(9, JobState.Buried), Buffer.from(''));
    h.engine.restoreJob(
      record(12, JobState.Delayed, { delayMs: 8000, deadlineAtMs: T0 + 3000 }),
      Buffer.from('x'),
    );
    h.engine.restoreJob(
      record(11, JobState.Delayed, { delayMs: 8000, deadlineAtMs: T0 - 1 }),
      Buffer.from('x'),
    );
    assert.deepEqual(
      [4, 7, 9, 12, 11].map((id) => h.state(id)),
      ['ready', 'ready', 'buried', 'delayed', 'ready'],
    );
    const job = h.engine.peek(7);
    assert.equal(job?.bodyWithCrlf.toString(), 'seven\r\n');
    assert.equal(h.engine.peek(9)?.bodyBytes, 0);
    assert.deepEqual(statsJob(h.engine, 7), {
      id: 7,
      tube: 'r',
      state: 'ready',
      pri: 10,
      age: 10,
      delay: 0,
      ttr: 5,
      'time-left': 0,
      file: 0,
      reserves: 3,
      timeouts: 1,
      releases: 2,
      buries: 1,
      kicks: 4,
    });
    // Replayed jobs are not new puts.
    assert.equal(h.engine.counts.totalJobs, 0);
    assert.deepEqual([h.engine.counts.ready, h.engine.counts.buried, h.engine.counts.delayed], [3, 1, 1]);
    // The delayed job keeps its absolute deadline.
    assert.equal(h.engine.nextDeadline(), T0 + 3000);
    h.check();
    h.advance(3000);
    assert.equal(h.state(12), 'ready');
    // Ids continue after the largest restored one.
    const s = h.open();
    assert.equal(h.put(s), 13);
    h.check();
  });

  test('restoreJob: restored jobs are reservable, buried ones kickable', () => {
    const h = new Harness();
    h.engine.restoreJob(record(1, JobState.Buried, { pri: 1 }), Buffer.from('b'));
    h.engine.restoreJob(record(2, JobState.Ready, { pri: 2 }), Buffer.from('r'));
    const s = h.open();
    h.engine.watch(s, 'r');
    h.engine.use(s, 'r');
    assert.equal(h.reserve(s), 'RESERVED 2');
    assert.equal(h.engine.kick(s, 10), 1);
    assert.equal(h.reserve(s), 'RESERVED 1');
    h.check();
  });

  test('restoreJob: with a stride, the next id stays in the node’s residue class', () => {
    const h = new Harness({ idStride: 4, idOffset: 3 });
    h.engine.restoreJob(record(19, JobState.Ready), Buffer.from('x'));
    const s = h.open();
    assert.equal(h.put(s), 23);
  });

  test('id ceiling: ids are asked for once per block, before the first id above the ceiling', () => {
    const { h, journal } = setup();
    journal.ceilingBlock = 3;
    const s = h.open();
    const ids = [h.put(s), h.put(s), h.put(s), h.put(s), h.put(s)];
    assert.deepEqual(ids, [1, 2, 3, 4, 5]);
    assert.deepEqual(journal.ceilings, [3, 6], 'a ceiling for 1..3, then one for 4..6');
  });

  test('id ceiling: a refused ceiling answers OUT_OF_MEMORY and consumes no id', () => {
    const { h, journal } = setup();
    journal.ceilingBlock = 1;
    const s = h.open();
    assert.equal(h.put(s), 1);
    journal.refuseIds = true;
    const refused = h.engine.put(s, 0, 0, 1000, body('x'), true);
    assert.equal(refused.word, 'OUT_OF_MEMORY');
    assert.equal(journal.take().filter((c) => c.op === 'put').length, 1, 'nothing logged for it');
    journal.refuseIds = false;
    assert.equal(h.put(s), 2, 'the id was not used up');
    h.check();
  });

  test('id ceiling: a malformed put still burns its id, as in beanstalkd', () => {
    const { h } = setup();
    const s = h.open();
    assert.equal(h.engine.put(s, 0, 0, 1000, body('x'), false).word, 'EXPECTED_CRLF');
    assert.equal(h.put(s), 2);
  });
});
