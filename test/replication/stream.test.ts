/**
 * Replication stream, in one process: the standby's segment files are the primary's byte for byte
 * and its engine holds the same jobs — live, after a catch-up from where it stopped, and after a
 * full copy of a log whose oldest segments are long gone; compaction copies and segment rotation
 * included.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DELETE_RECORD_BYTES } from '../../src/binlog/format';
import type { Engine } from '../../src/engine/engine';
import { JobState } from '../../src/engine/journal';
import { FaultyFileOps, tempDir } from '../support/binlog-fixtures';
import {
  compareSegments,
  startTestPrimary,
  startTestStandby,
  type TestPrimary,
  untilReplicated,
} from '../support/replication-pair';

function body(i: number): Buffer {
  return Buffer.from(`job ${i} ${'x'.repeat(i % 200)}\r\n`);
}

/** Puts n jobs, deletes every third, buries every fifth (via reserve), releases some with a new priority. */
function traffic(p: TestPrimary, from: number, n: number): void {
  const s = p.engine.openSession();
  p.engine.use(s, `tube-${from % 3}`);
  p.engine.watch(s, `tube-${from % 3}`);
  const ids: number[] = [];
  for (let i = from; i < from + n; i++) {
    const r = p.engine.put(s, i % 1000, 0, 60_000, body(i), true);
    assert.equal(r.word, 'INSERTED');
    if (r.word === 'INSERTED') ids.push(r.id);
  }
  ids.forEach((id, i) => {
    if (i % 3 === 0) p.engine.delete(s, id);
  });
  for (let i = 0; i < n / 10; i++) {
    const outcome = p.engine.reserve(s, 0);
    if (outcome?.type !== 'reserved') break;
    if (i % 2 === 0) p.engine.bury(s, outcome.job.id, 7);
    else p.engine.release(s, outcome.job.id, 3, 0);
  }
  p.engine.closeSession(s);
}

function sameJobs(primary: Engine, standby: Engine): void {
  assert.deepEqual(
    [...standby.jobs.keys()].sort((a, b) => a - b),
    [...primary.jobs.keys()].sort((a, b) => a - b),
  );
  for (const [id, job] of primary.jobs) {
    const copy = standby.peek(id);
    assert.ok(copy, `job ${id}`);
    assert.equal(copy.state, job.state === JobState.Reserved ? JobState.Ready : job.state);
    assert.equal(copy.pri, job.pri);
    assert.equal(copy.tube.name, job.tube.name);
    assert.ok(copy.bodyWithCrlf.equals(job.bodyWithCrlf));
  }
}

describe('replication stream', () => {
  test('stream: live standby — identical segments and jobs, across rotations and compaction', async () => {
    const primary = await startTestPrimary(tempDir(), { segmentBytes: 64 * 1024 });
    const standby = await startTestStandby(tempDir(), primary.port);
    try {
      assert.equal(standby.kind, 'full-copy');
      for (let round = 0; round < 20; round++) traffic(primary, round * 300, 300);
      // Most jobs go: old segments hold far more than twice the live data, compaction copies the rest.
      const s = primary.engine.openSession();
      [...primary.engine.jobs.keys()].forEach((id, i) => {
        if (i % 10 !== 0) primary.engine.delete(s, id);
      });
      primary.engine.closeSession(s);
      for (let round = 20; round < 30; round++) traffic(primary, round * 300, 300);
      await primary.binlog.settled();
      await untilReplicated(primary);
      assert.ok(compareSegments(primary.dir, standby.dir) >= 2, 'several segments compared');
      sameJobs(primary.engine, standby.engine);
      assert.ok(primary.binlog.stats().recordsMigrated > 0, 'compaction copies were streamed too');
      assert.equal(primary.source.inSyncCount(), 1);
      assert.deepEqual(standby.warnings, []);
    } finally {
      await standby.close();
      await primary.close();
    }
  });

  test('stream: with more room reserved than a segment, the standby makes its segments in the background too', async () => {
    const segmentBytes = 64 * 1024;
    const primary = await startTestPrimary(tempDir(), { segmentBytes });
    const standby = await startTestStandby(tempDir(), primary.port);
    try {
      const s = primary.engine.openSession();
      let blockingAtStart = 0;
      for (let batch = 0; batch < 60; batch++) {
        // No deletes: every job keeps its delete record's room reserved in the current segment.
        for (let k = 0; k < 50; k++)
          assert.equal(primary.engine.put(s, 0, 0, 60_000, body(150 + k), true).word, 'INSERTED');
        await primary.binlog.settled();
        await untilReplicated(primary);
        await standby.log.settled();
        // The full copy's first segment had nothing prepared; count from there.
        if (batch === 0) blockingAtStart = standby.log.stats().blockingPreallocations;
      }
      primary.engine.closeSession(s);
      assert.ok(
        primary.engine.jobs.size * DELETE_RECORD_BYTES > segmentBytes,
        'more reserved than a segment',
      );
      assert.ok(compareSegments(primary.dir, standby.dir) >= 8, 'rotations, each file the same bytes');
      assert.equal(primary.binlog.stats().blockingPreallocations, 0);
      assert.equal(standby.log.stats().blockingPreallocations, blockingAtStart);
      sameJobs(primary.engine, standby.engine);
    } finally {
      await standby.close();
      await primary.close();
    }
  });

  test('stream: a standby that was away catches up from where it stopped', async () => {
    const primary = await startTestPrimary(tempDir(), { segmentBytes: 1024 * 1024 });
    const standbyDir = tempDir();
    let standby = await startTestStandby(standbyDir, primary.port);
    try {
      traffic(primary, 0, 500);
      await untilReplicated(primary);
      await standby.close();
      traffic(primary, 500, 500);
      standby = await startTestStandby(standbyDir, primary.port);
      assert.equal(standby.kind, 'streaming', 'catch-up, not a full copy');
      await untilReplicated(primary);
      compareSegments(primary.dir, standbyDir);
      sameJobs(primary.engine, standby.engine);
      assert.equal(primary.source.catchUpsSent, 1);
      assert.equal(primary.source.fullCopiesSent, 1);
    } finally {
      await standby.close();
      await primary.close();
    }
  });

  test('stream: a standby whose position the primary no longer has takes a full copy', async () => {
    const primary = await startTestPrimary(tempDir(), { segmentBytes: 16 * 1024 });
    const standbyDir = tempDir();
    let standby = await startTestStandby(standbyDir, primary.port);
    try {
      traffic(primary, 0, 100);
      await untilReplicated(primary);
      await standby.close();
      // Everything goes and new jobs come: the old segments are deleted, the standby's position too.
      for (let round = 0; round < 10; round++) traffic(primary, 1000 + round * 200, 200);
      const s = primary.engine.openSession();
      for (const id of [...primary.engine.jobs.keys()]) primary.engine.delete(s, id);
      primary.engine.closeSession(s);
      traffic(primary, 5000, 200);
      await primary.binlog.settled();
      assert.ok((primary.binlog.segmentList[0]?.index ?? 0) > 1, 'segment 1 is gone');
      standby = await startTestStandby(standbyDir, primary.port);
      assert.equal(standby.kind, 'full-copy');
      await untilReplicated(primary);
      compareSegments(primary.dir, standbyDir);
      sameJobs(primary.engine, standby.engine);
    } finally {
      await standby.close();
      await primary.close();
    }
  });

  test("stream: a standby's failed write is counted (stalkd_binlog_write_errors_total), retried, nothing lost", async () => {
    const primary = await startTestPrimary(tempDir());
    const ops = new FaultyFileOps();
    // The first write fails; how many follow depends on how the stream batches, so only count them.
    let writes = 0;
    ops.rule = (op) => {
      if (op !== 'writev') return undefined;
      writes++;
      return writes === 1 ? 'EIO' : undefined;
    };
    const standby = await startTestStandby(tempDir(), primary.port, { ops });
    try {
      traffic(primary, 0, 50);
      await untilReplicated(primary);
      assert.ok(writes >= 2, `the failed write was retried (${writes} writes)`);
      assert.equal(standby.log.stats().writeErrors, 1);
      assert.equal(standby.log.stats().writable, true);
      sameJobs(primary.engine, standby.engine);
    } finally {
      await standby.close();
      await primary.close();
    }
  });
});
