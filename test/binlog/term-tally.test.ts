/**
 * Replay's tally of total-jobs and cmd-delete (src/binlog/term-tally.ts, docs/replication.md,
 * "Counters"): from a log alone it finds the figures the engine that wrote the log counted — a
 * move's delete is no client's, x-import makes a job, and a tube's figures go with its last job.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeFileOps, openBinlog } from '../../src/binlog';
import { replaySegments } from '../../src/binlog/replay';
import { FakeClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import { durable, tempDir } from '../support/binlog-fixtures';
import { body } from '../support/engine-fixture';

describe('binlog term tally', () => {
  it('counts what the engine counted: puts and imports made, client deletes, not a move’s delete', async () => {
    const dir = tempDir();
    const opened = await openBinlog(dir, { fsyncEveryMs: 0, segmentBytes: 64 * 1024, log: () => {} });
    const engine = new Engine({ clock: new FakeClock(Date.now()), journal: opened.binlog });
    opened.binlog.attachJobSource((id) => engine.jobSource(id));
    const s = engine.openSession();
    const put = (text: string): number => {
      const r = engine.put(s, 0, 0, 60_000, body(text), true);
      assert.equal(r.word, 'INSERTED');
      return (r as { id: number }).id;
    };
    engine.use(s, 'work');
    const ids = [put('a'), put('b'), put('c'), put('d')];
    assert.equal(engine.delete(s, ids[0] as number), 'DELETED');
    assert.ok(typeof engine.moveOut(ids[1] as number, 'node-4') === 'object');
    assert.equal(engine.moveDone(ids[1] as number), 'DELETED');
    const imported = engine.importJob(
      s,
      { node: 'node-0', originId: 7 },
      { pri: 2, delayMs: 0, ttrMs: 10_000, state: 'buried' },
      body('imported'),
      true,
    );
    assert.equal(imported.word, 'INSERTED');
    // A tube emptied while unused is dropped on the engine: its figures go with it.
    engine.use(s, 'brief');
    const brief = put('e');
    engine.use(s, 'work');
    assert.equal(engine.delete(s, brief), 'DELETED');
    assert.equal(engine.findTube('brief'), undefined);
    await durable(opened.binlog, engine.lastJournalSeq);
    await opened.binlog.close();

    const { tally } = replaySegments(nodeFileOps, dir);
    const work = engine.findTube('work');
    assert.equal(tally.made, engine.counts.totalJobs);
    assert.deepEqual(
      [...tally.tubes].map(([name, t]) => [name, t.made, t.deleted, t.live]),
      [['work', work?.totalJobs, work?.cmdDelete, 3]],
    );
    assert.deepEqual([engine.counts.totalJobs, work?.totalJobs, work?.cmdDelete], [6, 5, 1]);
  });
});
