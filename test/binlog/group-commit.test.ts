/**
 * Durability modes and group commit, observed through the FileOps seam (fsync counts, held fsyncs).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durable, FaultyFileOps, openStore, tempDir } from '../support/binlog-fixtures';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function started(options: { fsyncEveryMs: number | null }) {
  const ops = new FaultyFileOps();
  const s = await openStore(tempDir(), options, ops);
  await durable(s.binlog, s.store.lastSeq);
  await s.binlog.settled();
  if (options.fsyncEveryMs !== null && options.fsyncEveryMs > 0) await sleep(2 * options.fsyncEveryMs);
  ops.calls.clear();
  return { ...s, ops };
}

describe('binlog group commit', () => {
  it('group commit: 1000 puts in one tick share one write and one fsync', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    const seqs: number[] = [];
    for (let i = 0; i < 1000; i++) {
      store.put(`job ${i}`);
      seqs.push(store.lastSeq);
    }
    assert.deepEqual(
      seqs.slice(0, 3),
      [seqs[0]!, seqs[0]! + 1, seqs[0]! + 2],
      'each record gets the next sequence number',
    );
    await durable(binlog, store.lastSeq);
    assert.equal(ops.count('writev'), 1);
    assert.equal(ops.count('fdatasync'), 1);
    await binlog.close();
  });

  it('group commit: in -f 0 durableSeq moves only when the fsync has returned', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    ops.holdSyncs = true;
    store.put('a');
    const seq = store.lastSeq;
    const seen: number[] = [];
    binlog.onDurable((d) => seen.push(d));
    await sleep(30);
    assert.equal(ops.count('writev'), 1, 'written');
    assert.ok(binlog.durableSeq() < seq, 'but not durable before the fsync returns');
    assert.deepEqual(seen, []);
    ops.releaseSyncs();
    await durable(binlog, seq);
    assert.deepEqual(seen, [seq]);
    await binlog.close();
  });

  it('group commit: records that arrive during an fsync form the next batch together', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    ops.holdSyncs = true;
    store.put('first');
    const first = store.lastSeq;
    await sleep(20); // the first fsync is now in flight
    for (let i = 0; i < 50; i++) store.put(`waiting ${i}`);
    const last = store.lastSeq;
    await tick();
    assert.equal(ops.count('writev'), 1, 'nothing else is written while the fsync is in flight');
    ops.holdSyncs = false;
    ops.releaseSyncs();
    await durable(binlog, first);
    await durable(binlog, last);
    assert.equal(ops.count('writev'), 2);
    assert.equal(ops.count('fdatasync'), 2, 'fifty records, one more fsync');
    await binlog.close();
  });

  it('group commit: -f 50 is durable once written and fsyncs the tail of a burst within 50 ms', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 50 });
    for (let i = 0; i < 100; i++) store.put(`burst ${i}`);
    await durable(binlog, store.lastSeq);
    assert.equal(ops.count('fdatasync'), 0, 'handed to the OS, not yet fsynced');
    await sleep(150);
    assert.equal(ops.count('fdatasync'), 1, 'the timer synced the burst, once');
    store.put('later');
    await durable(binlog, store.lastSeq);
    await sleep(150);
    assert.equal(ops.count('fdatasync'), 2);
    await binlog.close();
  });

  it('group commit: -F never fsyncs while running, close() does', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: null });
    for (let i = 0; i < 100; i++) store.put(`x ${i}`);
    await durable(binlog, store.lastSeq);
    await sleep(100);
    assert.equal(ops.count('fdatasync'), 0);
    await binlog.close();
    assert.equal(ops.count('fdatasync'), 1);
  });

  it('group commit: durableSeq never goes backwards and covers every earlier record', async () => {
    const { store, binlog } = await started({ fsyncEveryMs: 0 });
    const seen: number[] = [];
    binlog.onDurable((d) => seen.push(d));
    let last = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1 + round; i++) store.put('r');
      last = store.lastSeq;
      if (round % 3 === 0) await durable(binlog, last);
    }
    await durable(binlog, last);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    assert.equal(seen[seen.length - 1], last);
    await binlog.close();
  });
});
