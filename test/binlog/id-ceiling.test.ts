/**
 * Id ceilings (issue 13): ids are handed out under a logged ceiling, so what a crash leaves on disk
 * always restarts above every id a client could have seen. The policy is tested with a fake log; the
 * on-disk guarantee by copying the files of a running binlog (the page cache: exactly what a kill -9
 * leaves, see damage.test.ts) at every step and replaying each copy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CeilingLog, IdCeiling, MAX_BLOCK, MIN_BLOCK } from '../../src/binlog/id-ceiling';
import { copySegments, durable, FaultyFileOps, openStore, tempDir } from '../support/binlog-fixtures';

/** A log whose records become safe when `settle()` says so. */
class FakeCeilingLog implements CeilingLog {
  readonly appended: number[] = [];
  lsn = 0;
  safe = 0;
  syncs = 0;
  nowAtMs = 1_000_000;
  failing = false;

  appendCeiling(ceiling: number): number | null {
    if (this.failing) return null;
    this.appended.push(ceiling);
    return ++this.lsn;
  }
  safeLsn(): number {
    return this.safe;
  }
  syncNow(): boolean {
    if (this.failing) return false;
    this.syncs++;
    this.safe = this.lsn;
    return true;
  }
  nowMs(): number {
    return this.nowAtMs;
  }
  settle(): void {
    this.safe = this.lsn;
  }
}

describe('id ceiling policy', () => {
  it('id ceiling: the first grant waits for its record; the next one is logged ahead and costs nothing', () => {
    const log = new FakeCeilingLog();
    const ids = new IdCeiling(log, 0);
    assert.equal(ids.reserve(1), MIN_BLOCK);
    assert.equal(log.syncs, 1, 'the first ceiling was synced before it was granted');
    assert.deepEqual(log.appended, [MIN_BLOCK, 2 * MIN_BLOCK], 'and the next one logged ahead');
    log.settle(); // the ordinary fsync of the log covers the one logged ahead
    log.nowAtMs += 5_000; // a block that lasted 5 s: no change of size
    assert.equal(ids.reserve(MIN_BLOCK + 1), 2 * MIN_BLOCK);
    assert.equal(log.syncs, 1, 'granted without a synchronous fsync');
    assert.equal(ids.forcedSyncs, 1, 'only the very first grant waited');
    assert.equal(log.appended.at(-1), 3 * MIN_BLOCK);
  });

  it('id ceiling: ids that outrun the logged-ahead ceiling wait for a sync, and the block doubles', () => {
    const log = new FakeCeilingLog();
    const ids = new IdCeiling(log, 0);
    ids.reserve(1);
    log.nowAtMs += 10; // the block was used up in 10 ms, before its successor was synced
    assert.equal(ids.reserve(MIN_BLOCK + 1), 2 * MIN_BLOCK);
    assert.equal(ids.forcedSyncs, 2, 'the first grant and this one');
    assert.equal(log.appended.at(-1), 4 * MIN_BLOCK, 'the next block is twice as large');
  });

  it('id ceiling: blocks grow to at most MAX_BLOCK and shrink again when a block lasts long', () => {
    const log = new FakeCeilingLog();
    const ids = new IdCeiling(log, 0);
    let granted = ids.reserve(1)!;
    for (let i = 0; i < 40; i++) {
      log.settle();
      log.nowAtMs += 1;
      granted = ids.reserve(granted + 1)!;
    }
    const step = (): number => log.appended.at(-1)! - granted;
    assert.equal(step(), MAX_BLOCK);
    log.settle();
    log.nowAtMs += 120_000;
    granted = ids.reserve(granted + 1)!;
    assert.equal(step(), MAX_BLOCK / 2);
  });

  it('id ceiling: a jump past every logged ceiling (a floor from elsewhere) is covered at once', () => {
    const log = new FakeCeilingLog();
    const ids = new IdCeiling(log, 0);
    ids.reserve(1);
    log.settle();
    const granted = ids.reserve(1_000_000)!;
    assert.ok(granted >= 1_000_000);
    assert.equal(log.safeLsn(), log.lsn - 1, 'the covering ceiling is safe; only the next is pending');
  });

  it('id ceiling: a log that cannot take the record refuses the id (the put answers OUT_OF_MEMORY)', () => {
    const log = new FakeCeilingLog();
    const ids = new IdCeiling(log, 0);
    ids.reserve(1);
    log.failing = true;
    log.settle();
    assert.equal(ids.reserve(MIN_BLOCK), MIN_BLOCK, 'inside the granted ceiling: no record needed');
    assert.equal(ids.reserve(3 * MIN_BLOCK), null);
    log.failing = false;
    assert.ok(ids.reserve(3 * MIN_BLOCK)! >= 3 * MIN_BLOCK, 'granted again once the log works');
  });
});

describe('id ceiling on disk', () => {
  for (const fsyncEveryMs of [0, 50, null] as const) {
    it(`id ceiling (${fsyncEveryMs === null ? '-F' : `-f ${fsyncEveryMs}`}): what a kill -9 leaves at any moment restarts above every id handed out`, async () => {
      const dir = tempDir();
      const { store, binlog } = await openStore(dir, { fsyncEveryMs, segmentBytes: 16 * 1024 });
      let highest = 0;
      for (let round = 0; round < 12; round++) {
        // Puts of various sizes (rotations included); the last ones of each round still in memory.
        for (let i = 0; i < 40 * (round + 1); i++) {
          highest = store.put('b'.repeat((i * 37) % 700))!;
          if (i % 3 === 0) store.delete(highest - 1);
        }
        binlog.flush(); // what the server does before any reply: from here a client may see `highest`
        const copy = copySegments(dir, 'stalkd-ids-copy-');
        const again = await openStore(copy, { fsyncEveryMs });
        await again.binlog.close();
        assert.ok(again.store.nextId > highest, `round ${round}: next id ${again.store.nextId} ≤ ${highest}`);
      }
      await durable(binlog, store.lastSeq);
      await binlog.close();
    });
  }

  it('id ceiling: a clean close logs the exact highest id, and ids go on right after it', async () => {
    const dir = tempDir();
    const first = await openStore(dir);
    for (let i = 0; i < 5; i++) first.store.put('x');
    first.store.delete(5);
    await first.binlog.close();
    const second = await openStore(dir);
    assert.equal(second.store.nextId, 6, 'the deleted highest id is not reused, nothing above it skipped');
    await second.binlog.close();
  });

  it('id ceiling: a failing disk refuses new ceilings; ids already granted still work', async () => {
    const dir = tempDir();
    const ops = new FaultyFileOps();
    let broken = false;
    ops.rule = (op) => (broken && (op === 'writev' || op === 'fdatasync') ? 'EIO' : undefined);
    const { store, binlog } = await openStore(dir, { fsyncEveryMs: 0 }, ops);
    store.put('a');
    await durable(binlog, store.lastSeq);
    broken = true;
    assert.notEqual(store.put('b'), null, 'the ceiling logged ahead was synced with put a: no I/O needed');
    store.nextId = 10_000_000; // beyond every ceiling logged: one must be written and synced now
    assert.equal(store.put('c'), null, 'no ceiling, no id');
    broken = false;
    await binlog.close();
    const again = await openStore(dir);
    await again.binlog.close();
    assert.deepEqual([...again.store.jobs.keys()], [1, 2], 'b was rewritten once the disk recovered');
  });
});
