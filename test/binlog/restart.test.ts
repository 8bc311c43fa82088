import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Binlog } from '../../src/binlog';
import { JobState } from '../../src/engine/journal';
import { durable, openStore, segmentFiles, tempDir } from '../support/binlog-fixtures';

const open: Binlog[] = [];
async function start(dir: string, options = {}) {
  const s = await openStore(dir, { fsyncEveryMs: 0, ...options });
  open.push(s.binlog);
  return s;
}

afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

describe('binlog restart', () => {
  it('restart: every state, field and counter comes back', async () => {
    const dir = tempDir();
    const { store, binlog } = await start(dir);
    const now = store.nowMs;
    const ready = store.put('ready body', { tube: 'alpha', pri: 5, ttrMs: 30_000 })!;
    const delayed = store.put('delayed', { tube: 'beta', delayMs: 3_600_000 })!;
    const buriedA = store.put('buried a')!;
    const buriedB = store.put('buried b')!;
    const reserved = store.put(Buffer.from([0, 1, 2, 13, 10, 255]), { tube: 'gamma' })!;
    const released = store.put('released')!;
    const gone = store.put('deleted')!;
    // buriedB is buried first, so FIFO order is B then A whatever the ids say.
    store.update(buriedB, { state: JobState.Buried, pri: 7, buries: 1 });
    store.update(buriedA, { state: JobState.Buried, buries: 1, reserves: 1 });
    store.mutate(reserved, { state: JobState.Reserved, reserves: 1, deadlineAtMs: now + 60_000 });
    store.update(released, { pri: 99, releases: 1, reserves: 1, timeouts: 1 }); // release without delay
    store.delete(gone);
    await durable(binlog, store.lastSeq);
    await binlog.close();
    open.length = 0;

    const again = await start(dir);
    const jobs = again.store.jobs;
    assert.deepEqual(again.warnings, []);
    assert.deepEqual([...jobs.keys()], [ready, delayed, reserved, buriedB, buriedA, released]);
    assert.deepEqual(jobs.get(ready)?.record, store.jobs.get(ready)?.record);
    assert.equal(jobs.get(ready)?.body.toString(), 'ready body');
    assert.equal(jobs.get(delayed)?.record.state, JobState.Delayed);
    assert.equal(jobs.get(delayed)?.record.deadlineAtMs, now + 3_600_000, 'absolute deadline kept');
    assert.equal(jobs.get(delayed)?.record.tube, 'beta');
    assert.equal(jobs.get(buriedB)?.record.state, JobState.Buried);
    assert.equal(jobs.get(buriedB)?.record.pri, 7);
    assert.equal(jobs.get(buriedB)?.record.buries, 1, 'buries not double-counted');
    assert.equal(jobs.get(buriedA)?.record.reserves, 1);
    assert.equal(jobs.get(reserved)?.record.state, JobState.Ready, 'reserved comes back ready');
    assert.equal(jobs.get(reserved)?.record.deadlineAtMs, 0);
    assert.deepEqual(jobs.get(reserved)?.body, Buffer.from([0, 1, 2, 13, 10, 255]));
    assert.equal(jobs.get(released)?.record.pri, 99, 'release-without-delay priority survives');
    assert.equal(jobs.get(released)?.record.releases, 1);
    assert.equal(jobs.get(released)?.record.timeouts, 1);
    assert.equal(jobs.get(ready)?.record.createdAtMs, now, 'age survives');
    assert.equal(jobs.has(gone), false);
    assert.equal(again.store.nextId, gone + 1, 'the deleted max id is not reused');
  });

  it('restart: every start opens a new segment after the replayed ones', async () => {
    const dir = tempDir();
    const first = await start(dir);
    first.store.put('x');
    await first.binlog.close();
    open.length = 0;
    assert.deepEqual(segmentFiles(dir), ['seg-0000000001.stalkd']);
    const second = await start(dir);
    assert.equal(second.binlog.stats().currentIndex, 2);
    assert.equal(second.binlog.stats().oldestIndex, 1);
    assert.equal(second.store.jobs.size, 1);
  });

  it('restart: the id floor survives when the segment holding the max id is gone', async () => {
    const dir = tempDir();
    const { store, binlog } = await start(dir, { segmentBytes: 4096 });
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(store.put('z'.repeat(200))!);
    for (const id of ids) store.delete(id);
    await durable(binlog, store.lastSeq);
    await binlog.close();
    open.length = 0;
    assert.equal(
      segmentFiles(dir).includes('seg-0000000001.stalkd'),
      false,
      'the first puts were compacted away',
    );
    for (let round = 0; round < 3; round++) {
      const s = await start(dir, { segmentBytes: 4096 });
      assert.equal(s.store.nextId, 51, `round ${round}`);
      assert.equal(s.store.jobs.size, 0);
      await s.binlog.close();
      open.length = 0;
    }
    assert.ok(segmentFiles(dir).length <= 2, `left: ${segmentFiles(dir).join(' ')}`);
  });

  it('restart: buried FIFO order and fields survive compaction copies', async () => {
    const dir = tempDir();
    const { store, binlog } = await start(dir, { segmentBytes: 8192 });
    const a = store.put('a', { tube: 't' })!;
    const b = store.put('b', { tube: 't' })!;
    store.update(b, { state: JobState.Buried, buries: 1 });
    store.update(a, { state: JobState.Buried, buries: 1 });
    store.mutate(a, { timeouts: 3 }); // unlogged counters reach the log through a copy
    for (let i = 0; i < 400; i++) store.delete(store.put('churn'.repeat(20))!);
    await durable(binlog, store.lastSeq);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(binlog.stats().recordsMigrated >= 2, 'both jobs were copied forward');
    assert.ok(binlog.fileOf(a) > 1);
    await binlog.close();
    open.length = 0;
    const again = await start(dir);
    assert.deepEqual([...again.store.jobs.keys()], [b, a]);
    assert.equal(again.store.jobs.get(a)?.record.timeouts, 3);
    assert.equal(again.store.jobs.get(a)?.record.buries, 1);
    assert.equal(again.store.jobs.get(a)?.body.toString(), 'a');
  });

  it('restart: leftover spare files are removed and a zero-filled segment is skipped with a warning', async () => {
    const dir = tempDir();
    const first = await start(dir);
    first.store.put('kept');
    await first.binlog.close();
    open.length = 0;
    fs.writeFileSync(path.join(dir, 'spare-123000000001.tmp'), Buffer.alloc(8192));
    fs.writeFileSync(path.join(dir, 'seg-0000000002.stalkd'), Buffer.alloc(8192)); // #364: zeros after power loss
    const again = await start(dir);
    assert.equal(again.store.jobs.size, 1);
    assert.match(again.warnings.join('\n'), /seg-0000000002\.stalkd is all zeros/);
    assert.equal(fs.existsSync(path.join(dir, 'spare-123000000001.tmp')), false);
  });
});
