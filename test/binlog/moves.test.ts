/**
 * Moving jobs in the binlog (docs/migration.md, "Moving jobs"): a moving job and an import key
 * survive a restart, and compaction keeps both while it removes the segments that first held them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Binlog, openBinlog, restoreInto } from '../../src/binlog';
import { FakeClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import type { Session } from '../../src/engine/session';
import { durable, tempDir } from '../support/binlog-fixtures';
import { body, checkEngine } from '../support/engine-fixture';

interface Node {
  engine: Engine;
  binlog: Binlog;
  session: Session;
}

/** An engine on the log in dir, restored from it, serving compaction. The clock is the wall clock's now. */
async function openNode(dir: string, segmentBytes = 64 * 1024): Promise<Node> {
  const opened = await openBinlog(dir, { fsyncEveryMs: 0, segmentBytes, log: () => {} });
  const engine = new Engine({ clock: new FakeClock(Date.now()), journal: opened.binlog });
  restoreInto(engine, opened);
  opened.binlog.attachJobSource((id) => engine.jobSource(id));
  return { engine, binlog: opened.binlog, session: engine.openSession() };
}

function importOne(node: Node, originId: number, text = 'imported'): { word: string; id?: number } {
  return node.engine.importJob(
    node.session,
    { node: 'node-0', originId },
    { pri: 2, delayMs: 0, ttrMs: 10_000, state: 'buried' },
    body(text),
    true,
  );
}

function put(node: Node, text: string): number {
  const r = node.engine.put(node.session, 0, 0, 60_000, body(text), true);
  assert.equal(r.word, 'INSERTED');
  return (r as { id: number }).id;
}

describe('binlog moves', () => {
  it('binlog moves: a moving job stays moving (same destination, same state beneath) and import keys answer after a restart', async () => {
    const dir = tempDir();
    const a = await openNode(dir);
    a.engine.use(a.session, 'work');
    const moving = put(a, 'moving');
    const delayed = a.engine.put(a.session, 3, 60_000, 5000, body('later'), true);
    assert.equal(delayed.word, 'INSERTED');
    const plain = put(a, 'plain');
    assert.ok(typeof a.engine.moveOut(moving, 'node-4') === 'object');
    assert.ok(typeof a.engine.moveOut((delayed as { id: number }).id, 'node-4') === 'object');
    const imported = importOne(a, 17);
    const gone = importOne(a, 18, 'gone');
    assert.equal(a.engine.delete(a.session, gone.id!), 'DELETED');
    await durable(a.binlog, a.engine.lastJournalSeq);
    await a.binlog.close();

    const b = await openNode(dir);
    checkEngine(b.engine, [b.session]);
    assert.equal(b.engine.peek(moving)?.state, 'moving');
    assert.equal(b.engine.moves.of(moving)?.dest, 'node-4');
    const d = b.engine.moves.of((delayed as { id: number }).id);
    assert.equal(d?.record.state, 'delayed');
    assert.equal(b.engine.peek(plain)?.state, 'ready');
    assert.equal(b.engine.counts.ready, 1);
    assert.equal(b.engine.peek(imported.id!)?.state, 'buried');
    assert.deepEqual(importOne(b, 17), { word: 'IMPORTED', id: imported.id });
    assert.deepEqual(importOne(b, 18), { word: 'IMPORTED', id: gone.id }, 'the key outlives its job');
    assert.equal(b.engine.moveDone(moving), 'DELETED');
    await durable(b.binlog, b.engine.lastJournalSeq);
    await b.binlog.close();

    const c = await openNode(dir);
    assert.equal(c.engine.peek(moving), undefined, 'x-move-done is durable');
    assert.deepEqual(c.engine.moves.ids(), [(delayed as { id: number }).id]);
    await c.binlog.close();
  });

  it('binlog moves: compaction keeps moving jobs and import keys while the segments that held them go', async () => {
    const dir = tempDir();
    const a = await openNode(dir, 16 * 1024);
    const moving = put(a, 'moving');
    assert.ok(typeof a.engine.moveOut(moving, 'node-2') === 'object');
    const imported = importOne(a, 5);
    const gone = importOne(a, 6);
    assert.equal(a.engine.delete(a.session, gone.id!), 'DELETED');
    const firstSegment = a.binlog.stats().currentIndex;
    // Churn: many segments' worth of puts and deletes, so the first ones must be compacted away.
    const filler = 'f'.repeat(1500);
    for (let i = 0; i < 400; i++) {
      const id = put(a, filler);
      assert.equal(a.engine.delete(a.session, id), 'DELETED');
      if (i % 20 === 0) {
        await durable(a.binlog, a.engine.lastJournalSeq);
        await a.binlog.settled();
      }
    }
    await durable(a.binlog, a.engine.lastJournalSeq);
    await a.binlog.settled();
    assert.ok(
      a.binlog.stats().oldestIndex > firstSegment,
      `segment ${firstSegment} (the move and the imports) was removed: oldest is ${a.binlog.stats().oldestIndex}`,
    );
    await a.binlog.close();

    const b = await openNode(dir);
    checkEngine(b.engine, [b.session]);
    assert.equal(b.engine.moves.of(moving)?.dest, 'node-2');
    assert.deepEqual(importOne(b, 5), { word: 'IMPORTED', id: imported.id });
    assert.deepEqual(importOne(b, 6), { word: 'IMPORTED', id: gone.id });
    assert.equal(b.engine.moves.importKeyCount, 2);
    await b.binlog.close();
  });
});
