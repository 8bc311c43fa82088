/**
 * Moving jobs between nodes (src/engine/moves.ts): the source's hidden moving state and the
 * destination's import keys, on an injected clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IMPORT_KEY_GRACE_MS } from '../../src/engine/moves';
import { applyLogRecord } from '../../src/replication/apply';
import { body, Harness, RecordingJournal, statsJob, statsTube } from '../support/engine-fixture';

const ORIGIN = { node: 'node-0', originId: 41 };

function importInto(h: Harness, s = h.open(), state: 'ready' | 'delayed' | 'buried' = 'ready', delayMs = 0) {
  return h.engine.importJob(s, ORIGIN, { pri: 7, delayMs, ttrMs: 30_000, state }, body('moved'), true);
}

describe('engine moves', () => {
  it('moves: x-move-out hides a ready job from reserve, peek-ready and the counts; peek and stats-job show it moving', () => {
    const journal = new RecordingJournal();
    const h = new Harness({ journal });
    const s = h.open();
    const id = h.put(s, { pri: 5 });
    const other = h.put(s, { pri: 9 });
    journal.take();
    const move = h.engine.moveOut(id, 'node-3');
    assert.ok(typeof move === 'object');
    assert.equal(move.dest, 'node-3');
    assert.equal(move.record.state, 'ready');
    assert.deepEqual(
      journal.take().map((c) => c.op === 'move' && [c.record.id, c.record.state, c.dest]),
      [[id, 'ready', 'node-3']],
    );
    h.check();
    assert.equal(h.engine.counts.ready, 1);
    assert.equal(statsTube(h.engine, 'default')?.['current-jobs-ready'], 1);
    assert.equal(h.engine.peekReady(s)?.id, other);
    assert.equal(h.state(id), 'moving');
    assert.equal(statsJob(h.engine, id)?.state, 'moving');
    assert.equal(h.reserve(s), `RESERVED ${other}`);
    assert.equal(h.reserve(s), 'TIMED_OUT');
    // Nothing but its move deletes or takes it.
    const w = h.open();
    assert.equal(h.engine.delete(w, id), 'NOT_FOUND');
    assert.equal(h.engine.reserveJob(w, id), 'NOT_FOUND');
    assert.equal(h.engine.kickJob(id), 'NOT_FOUND');
    h.check();
  });

  it('moves: a repeated x-move-out answers the first move; "-" reports without starting one; reserved is BUSY', () => {
    const journal = new RecordingJournal();
    const h = new Harness({ journal });
    const s = h.open();
    const a = h.put(s);
    const b = h.put(s, { delayMs: 5000 });
    const c = h.put(s);
    assert.equal(h.engine.moveOut(a, '-'), 'NOT_FOUND');
    assert.equal(h.state(a), 'ready');
    assert.ok(typeof h.engine.moveOut(a, 'node-3') === 'object');
    journal.take();
    const again = h.engine.moveOut(a, 'node-9');
    assert.ok(typeof again === 'object' && again.dest === 'node-3');
    assert.ok(typeof h.engine.moveOut(a, '-') === 'object');
    assert.equal(journal.take().length, 0, 'a repeated move logs nothing');
    const delayed = h.engine.moveOut(b, 'node-3');
    assert.ok(typeof delayed === 'object');
    assert.equal(delayed.record.state, 'delayed');
    assert.equal(delayed.record.deadlineAtMs, h.clock.nowMs() + 5000);
    assert.equal(h.engine.counts.delayed, 0);
    assert.equal(h.reserve(s), `RESERVED ${c}`);
    assert.equal(h.engine.moveOut(c, 'node-3'), 'BUSY');
    assert.equal(h.engine.moveOut(999, 'node-3'), 'NOT_FOUND');
    h.advance(10_000);
    assert.equal(h.state(b), 'moving', 'time does not bring a moving job back');
    h.check();
  });

  it('moves: x-move-done deletes only a moving job; a tube holding only moving jobs lives until then', () => {
    const journal = new RecordingJournal();
    const h = new Harness({ journal });
    const s = h.open();
    h.engine.use(s, 'moved');
    const id = h.put(s);
    const stays = h.put(s);
    assert.equal(h.engine.moveDone(stays), 'NOT_FOUND');
    assert.ok(typeof h.engine.moveOut(id, 'node-3') === 'object');
    assert.equal(h.engine.delete(s, stays), 'DELETED');
    h.engine.closeSession(s);
    assert.ok(h.engine.findTube('moved'), 'the moving job keeps its tube');
    h.check();
    journal.take();
    assert.equal(h.engine.moveDone(id), 'DELETED');
    assert.deepEqual(journal.take(), [{ op: 'delete', id }]);
    assert.equal(h.engine.moveDone(id), 'NOT_FOUND');
    assert.equal(h.engine.findTube('moved'), undefined);
    assert.deepEqual(h.engine.moves.ids(), []);
    h.check();
  });

  it('moves: x-import inserts once per origin job, IMPORTED with the same id after, even once the job is gone', () => {
    const journal = new RecordingJournal();
    const h = new Harness({ journal });
    const s = h.open();
    const first = importInto(h, s);
    assert.equal(first.word, 'INSERTED');
    const id = (first as { id: number }).id;
    const put = journal.take();
    assert.equal(put.length, 1);
    assert.equal(put[0]!.op, 'put');
    assert.deepEqual(importInto(h, s), { word: 'IMPORTED', id });
    assert.equal(journal.take().length, 0, 'a repeated import logs nothing');
    assert.equal(h.engine.delete(s, id), 'DELETED');
    h.advance(IMPORT_KEY_GRACE_MS - 1);
    assert.deepEqual(importInto(h, s), { word: 'IMPORTED', id });
    h.advance(1);
    const late = importInto(h, s);
    assert.equal(late.word, 'INSERTED', 'past the grace the key is forgotten');
    assert.notEqual((late as { id: number }).id, id);
    h.check();
  });

  it('moves: x-import keeps state, priority, TTR and remaining delay; a buried job is never ready', () => {
    const h = new Harness();
    const s = h.open();
    const buried = h.engine.importJob(
      s,
      ORIGIN,
      { pri: 3, delayMs: 0, ttrMs: 9000, state: 'buried' },
      body('b'),
      true,
    );
    const delayed = h.engine.importJob(
      s,
      { node: 'node-0', originId: 42 },
      { pri: 4, delayMs: 2500, ttrMs: 9000, state: 'delayed' },
      body('d'),
      true,
    );
    assert.ok(buried.word === 'INSERTED' && delayed.word === 'INSERTED');
    assert.equal(h.state(buried.id), 'buried');
    assert.equal(h.engine.peekBuried(s)?.id, buried.id);
    assert.equal(h.state(delayed.id), 'delayed');
    assert.equal(h.engine.peek(delayed.id)?.deadlineAtMs, h.clock.nowMs() + 2500);
    assert.equal(h.engine.peek(delayed.id)?.pri, 4);
    assert.equal(h.engine.peek(delayed.id)?.ttrMs, 9000);
    assert.equal(h.reserve(s), 'TIMED_OUT');
    h.advance(2500);
    assert.equal(h.reserve(s), `RESERVED ${delayed.id}`);
    h.check();
  });

  it('moves: a standby follows Move records and copies of moving jobs, and learns import keys', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s);
    const record = h.engine.jobSource(id)!.record;
    applyLogRecord(h.engine, { type: 6, lsn: 9, job: record, dest: 'node-2' }, Buffer.alloc(0));
    assert.equal(h.state(id), 'moving');
    assert.equal(h.engine.moves.of(id)?.dest, 'node-2');
    h.check();
    // A compaction copy says it is still moving; a delete ends it.
    const copy = { type: 2 as const, lsn: 10, job: record, orderLsn: 0, flags: 0, bodyAt: 0, bodyBytes: 1 };
    applyLogRecord(h.engine, { ...copy, movingTo: 'node-2' }, Buffer.from('x'));
    assert.equal(h.state(id), 'moving');
    h.check();
    applyLogRecord(h.engine, { type: 4, lsn: 11, id }, Buffer.alloc(0));
    assert.equal(h.engine.peek(id), undefined);
    const key = { node: 'node-5', originId: 3, newId: 77, atMs: h.clock.nowMs() };
    applyLogRecord(h.engine, { type: 7, lsn: 12, key }, Buffer.alloc(0));
    const again = h.engine.importJob(
      s,
      { node: 'node-5', originId: 3 },
      { pri: 0, delayMs: 0, ttrMs: 1000, state: 'ready' },
      body('x'),
      true,
    );
    assert.deepEqual(again, { word: 'IMPORTED', id: 77 });
    h.check();
  });
});
