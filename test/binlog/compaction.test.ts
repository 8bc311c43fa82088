/**
 * Bounded disk (issue point 5). After every batch of 50 commands has settled, the log's files must
 * hold at most 2 × live data + the current segment (+ the next one while it is being preallocated).
 * Live data = the full records of the live jobs, what a freshly compacted log would hold.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Binlog } from '../../src/binlog';
import { JobState } from '../../src/engine/journal';
import { dirBytes, durable, type FakeJobStore, openStore, tempDir } from '../support/binlog-fixtures';

const SEGMENT_BYTES = 128 * 1024;
const BATCHES = 300;
const PER_BATCH = 50;

function lcg(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
}

interface Run {
  dir: string;
  store: FakeJobStore;
  binlog: Binlog;
  /** Largest excess over the bound seen after a settled batch (≤ 0 means always within). */
  worstExcess: number;
}

async function churn(
  step: (store: FakeJobStore, random: (n: number) => number) => void,
  serve = true,
): Promise<Run> {
  const dir = tempDir();
  const { store, binlog } = await openStore(
    dir,
    { fsyncEveryMs: null, segmentBytes: SEGMENT_BYTES },
    undefined,
    serve,
  );
  const random = lcg(7);
  let worstExcess = Number.NEGATIVE_INFINITY;
  for (let batch = 0; batch < BATCHES; batch++) {
    for (let k = 0; k < PER_BATCH; k++) step(store, random);
    await durable(binlog, store.lastSeq);
    await binlog.settled();
    const st = binlog.stats();
    const excess = dirBytes(dir) - (2 * st.liveBytes + st.currentBytes + st.spareBytes);
    worstExcess = Math.max(worstExcess, excess);
  }
  return { dir, store, binlog, worstExcess };
}

/** The log replays to exactly the store's jobs. */
async function assertReplaysTo(run: Run): Promise<void> {
  await run.binlog.close();
  const again = await openStore(run.dir);
  await again.binlog.close();
  assert.deepEqual(
    [...again.store.jobs.entries()].sort((a, b) => a[0] - b[0]),
    [...run.store.jobs.entries()].sort((a, b) => a[0] - b[0]),
  );
}

describe('binlog compaction', () => {
  it('compaction: FIFO churn stays within 2 × live + one segment', async () => {
    const live: number[] = [];
    const run = await churn((store, random) => {
      live.push(store.put('y'.repeat(100 + random(1900)))!);
      if (live.length > 200) store.delete(live.shift()!);
    });
    assert.ok(run.worstExcess <= 0, `over the bound by ${run.worstExcess} bytes`);
    assert.ok(run.binlog.stats().oldestIndex > 100, 'old segments were deleted');
    await assertReplaysTo(run);
  });

  it('compaction: random deletes (live jobs scattered over every segment) stay within the bound', async () => {
    const live: number[] = [];
    const run = await churn((store, random) => {
      live.push(store.put('y'.repeat(100 + random(1900)))!);
      if (live.length > 300) {
        const i = random(live.length);
        store.delete(live[i]!);
        live[i] = live[live.length - 1]!;
        live.pop();
      }
    });
    assert.ok(run.worstExcess <= 0, `over the bound by ${run.worstExcess} bytes`);
    const st = run.binlog.stats();
    assert.ok(st.recordsMigrated > 0);
    assert.ok(st.recordsMigrated < st.recordsWritten / 2, `write amplification: ${JSON.stringify(st)}`);
    await assertReplaysTo(run);
  });

  it('compaction: one very old live job is carried forward instead of pinning every segment', async () => {
    let oldId = 0;
    let last = 0;
    const run = await churn((store) => {
      if (oldId === 0) oldId = store.put('the very old job', { tube: 'ancient', pri: 3 })!;
      if (last !== 0) store.delete(last);
      last = store.put('z'.repeat(1000))!;
    });
    assert.ok(run.worstExcess <= 0, `over the bound by ${run.worstExcess} bytes`);
    const st = run.binlog.stats();
    assert.ok(st.oldestIndex > 100, `oldest segment ${st.oldestIndex}: the old job still pins the head`);
    assert.ok(run.binlog.fileOf(oldId) >= st.oldestIndex);
    await assertReplaysTo(run);
  });

  it('compaction: control — without the job source the old job pins everything', async () => {
    let oldId = 0;
    let last = 0;
    const run = await churn((store) => {
      if (oldId === 0) oldId = store.put('the very old job')!;
      if (last !== 0) store.delete(last);
      last = store.put('z'.repeat(1000))!;
    }, false);
    assert.ok(run.worstExcess > 10 * SEGMENT_BYTES, 'the bound check would catch a missing compaction');
    assert.equal(run.binlog.stats().oldestIndex, 1);
    await run.binlog.close();
  });

  it('compaction: repeated release-with-delay (#622) does not accumulate records', async () => {
    const ids: number[] = [];
    const run = await churn((store, random) => {
      while (ids.length < 10) ids.push(store.put('x'.repeat(500))!);
      const id = ids[random(ids.length)]!;
      const r = store.jobs.get(id)!.record;
      const delayMs = 1000 * (1 + random(100));
      store.update(id, {
        state: JobState.Delayed,
        pri: random(1000),
        delayMs,
        deadlineAtMs: store.nowMs + delayMs,
        releases: r.releases + 1,
        reserves: r.reserves + 1,
      });
    });
    assert.ok(run.worstExcess <= 0, `over the bound by ${run.worstExcess} bytes`);
    assert.ok(run.binlog.stats().segments <= 3);
    await assertReplaysTo(run);
  });
});
