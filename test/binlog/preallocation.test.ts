/**
 * The next segment is preallocated in the background (zeros written and fsynced on the thread
 * pool) before the current one is full. Every live job keeps the room for its delete record in the
 * current segment, so with many live jobs most of a segment is reserved room: the background work
 * must start from the room left for new records, not from the file's size — else every rotation
 * writes and fsyncs the whole next segment on the event loop, and every client of the node waits
 * for it (on the bench VM before the fix, 30 s of pipelined puts: 47 rotations on the event loop,
 * the first twenty 12–39 MiB of zeros and 15–108 ms each).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DELETE_RECORD_BYTES } from '../../src/binlog/format';
import { durable, FaultyFileOps, openStore, tempDir } from '../support/binlog-fixtures';

const SEGMENT_BYTES = 64 * 1024;
const BATCHES = 80;
const PER_BATCH = 50;

describe('binlog preallocation', () => {
  it('preallocation: with more room reserved than a whole segment, every rotation finds its segment made in the background', async () => {
    const ops = new FaultyFileOps();
    /** Zero-fill writes of spare files made on the event loop (createSpareSync, extendSpareSync). */
    let blockingWrites = 0;
    let opened = false;
    ops.rule = (op, file) => {
      if (opened && op === 'writeSync' && file.includes('spare-')) blockingWrites++;
      return undefined;
    };
    const dir = tempDir();
    // The start-up segment is made on the event loop (nothing runs yet); count what follows.
    const { store, binlog } = await openStore(dir, { fsyncEveryMs: null, segmentBytes: SEGMENT_BYTES }, ops);
    opened = true;
    const startIndex = binlog.stats().currentIndex;
    for (let batch = 0; batch < BATCHES; batch++) {
      // 50 puts of ~150 B: a sixth of a segment, well inside the half that the background has.
      for (let k = 0; k < PER_BATCH; k++) assert.notEqual(store.put('x'.repeat(100)), null);
      await durable(binlog, store.lastSeq);
      await binlog.settled();
    }
    const st = binlog.stats();
    const reserved = st.liveJobs * DELETE_RECORD_BYTES;
    assert.ok(reserved > SEGMENT_BYTES, `the live jobs reserve ${reserved} B, more than a segment`);
    assert.ok(st.currentIndex - startIndex >= 8, `rotations: ${st.currentIndex - startIndex}`);
    assert.equal(blockingWrites, 0, 'segments zero-filled on the event loop');
    assert.equal(st.blockingPreallocations, 0);
    await binlog.close();
  });

  it('preallocation: a put that outgrows the prepared segment gets one made on the spot, and the count says so', async () => {
    const dir = tempDir();
    const { store, binlog } = await openStore(dir, { fsyncEveryMs: null, segmentBytes: SEGMENT_BYTES });
    // A body bigger than a segment fits no preallocated one: the log makes one big enough at once.
    assert.notEqual(store.put(Buffer.alloc(3 * SEGMENT_BYTES, 1)), null);
    await durable(binlog, store.lastSeq);
    assert.equal(binlog.stats().blockingPreallocations, 1);
    await binlog.close();
    const again = await openStore(dir);
    assert.equal(again.store.jobs.get(1)?.body.length, 3 * SEGMENT_BYTES);
    await again.binlog.close();
  });
});
