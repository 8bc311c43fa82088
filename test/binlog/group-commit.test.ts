/**
 * Durability modes and group commit, observed through the FileOps seam (write and fsync counts,
 * held fsyncs). Records reach the OS with a synchronous write; fsyncs run on the thread pool, one
 * at a time, each covering everything written before it started.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durable, FaultyFileOps, openStore, tempDir } from '../support/binlog-fixtures';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function started(options: { fsyncEveryMs: number | null }) {
  const ops = new FaultyFileOps();
  // In -f MS the id ceiling logged ahead at start is synced by the first timer: wait for it.
  const timerSync =
    options.fsyncEveryMs !== null && options.fsyncEveryMs > 0 ? ops.next('fdatasync') : undefined;
  const s = await openStore(tempDir(), options, ops);
  await durable(s.binlog, s.store.lastSeq);
  await timerSync;
  await s.binlog.settled();
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
    assert.equal(seqs[1]! - seqs[0]!, 1, 'each record gets the next sequence number');
    await durable(binlog, store.lastSeq);
    assert.equal(ops.count('writev'), 1);
    assert.equal(ops.count('fdatasync'), 1);
    await binlog.close();
  });

  it('group commit: flush() hands the records to the OS at once, before the end of the turn', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    store.put('a');
    assert.equal(ops.count('writev'), 0, 'appended in memory');
    binlog.flush();
    assert.equal(ops.count('writev'), 1, 'written synchronously');
    binlog.flush();
    assert.equal(ops.count('writev'), 1, 'nothing left to write: no second call');
    await durable(binlog, store.lastSeq);
    await binlog.close();
  });

  it('group commit: in -f 0 durableSeq moves only when the fsync has returned', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    ops.holdSyncs = true;
    const parked = ops.next('fdatasync');
    store.put('a');
    const seq = store.lastSeq;
    const seen: number[] = [];
    binlog.onDurable((d) => seen.push(d));
    await parked;
    assert.equal(ops.count('writev'), 1, 'written');
    assert.ok(binlog.durableSeq() < seq, 'but not durable before the fsync returns');
    assert.deepEqual(seen, []);
    ops.holdSyncs = false;
    ops.releaseSyncs();
    await durable(binlog, seq);
    assert.deepEqual(seen, [seq]);
    await binlog.close();
  });

  it('group commit: records written during an fsync share the next one', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 0 });
    ops.holdSyncs = true;
    const parked = ops.next('fdatasync');
    store.put('first');
    const first = store.lastSeq;
    await parked; // the first fsync is now in flight
    for (let i = 0; i < 50; i++) store.put(`waiting ${i}`);
    const last = store.lastSeq;
    await tick();
    assert.equal(ops.count('writev'), 2, 'the second batch is in the OS while the fsync runs');
    assert.equal(ops.count('fdatasync'), 1, 'one fsync at a time');
    assert.ok(binlog.durableSeq() < first);
    ops.holdSyncs = false;
    ops.releaseSyncs();
    await durable(binlog, first);
    await durable(binlog, last);
    assert.equal(ops.count('writev'), 2);
    assert.equal(ops.count('fdatasync'), 2, 'fifty records, one more fsync');
    await binlog.close();
  });

  it('group commit: -f 50 is durable once written; a timer fsyncs the tail of a burst, once', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: 50 });
    ops.holdSyncs = true;
    const parked = ops.next('fdatasync');
    for (let i = 0; i < 100; i++) store.put(`burst ${i}`);
    await durable(binlog, store.lastSeq); // durable while no fsync has returned: written is enough
    await parked; // the timer's fsync of the burst
    ops.holdSyncs = false;
    ops.releaseSyncs();
    await binlog.settled();
    assert.equal(ops.count('fdatasync'), 1, 'one fsync covered the whole burst');
    const again = ops.next('fdatasync');
    store.put('later');
    await durable(binlog, store.lastSeq);
    await again;
    assert.equal(ops.count('fdatasync'), 2, 'the tail gets its own fsync without further writes');
    await binlog.close();
  });

  it('group commit: -F never fsyncs while running, close() does', async () => {
    const { store, binlog, ops } = await started({ fsyncEveryMs: null });
    for (let i = 0; i < 100; i++) store.put(`x ${i}`);
    await durable(binlog, store.lastSeq);
    await binlog.settled(); // nothing scheduled, nothing running, and -F arms no timer
    assert.equal(ops.count('fdatasync'), 0);
    await binlog.close();
    assert.equal(ops.count('fdatasync'), 1);
  });

  it('group commit: -F keeps serving while a segment sealed with unwritten records waits to be finished', async () => {
    // A sealed segment is truncated and closed (finishSealed) once all its records are written.
    // When the log moved on again while one was being finished, the next one had records still in
    // memory: -F's fsync step then re-ran finishSealed in microtasks forever, and the write that
    // would have let it finish (a later turn) never came — the process spun at 100 % CPU.
    class HeldCloses extends FaultyFileOps {
      closes: (() => void)[] = [];
      hold = true;
      override async close(fd: number): Promise<void> {
        await super.close(fd);
        // The last step of finishing a segment: released from here, the rest of that pass runs in
        // microtasks, before the turn that would write the next sealed segment's records.
        if (this.hold) await new Promise<void>((go) => this.closes.push(go));
      }
    }
    const ops = new HeldCloses();
    const dir = tempDir();
    const { store, binlog } = await openStore(dir, { fsyncEveryMs: null, segmentBytes: 4096 }, ops);
    const body = Buffer.alloc(1000, 'x');
    const segments = binlog.stats().segments;
    while (binlog.stats().segments === segments) store.put(body);
    await durable(binlog, store.lastSeq); // written: the first sealed segment is being finished
    while (ops.closes.length === 0) await tick();
    const second = binlog.stats().segments;
    while (binlog.stats().segments === second) store.put(body); // sealed again, records unwritten
    ops.hold = false;
    for (const go of ops.closes.splice(0)) go();
    for (let i = 0; i < 3; i++) await tick(); // a spin in microtasks never lets this resolve
    await durable(binlog, store.lastSeq);
    await binlog.close();
    const reopened = await openStore(dir, { fsyncEveryMs: null, segmentBytes: 4096 });
    assert.equal(reopened.store.jobs.size, store.jobs.size, 'every job written');
    await reopened.binlog.close();
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
