/**
 * Disk full and failing disks, through the FileOps seam. A full disk shows up where space is
 * allocated: preallocating a new segment (spare files); writes into an existing segment overwrite
 * blocks allocated at creation, so they keep working.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobState } from '../../src/engine/journal';
import { durable, FaultyFileOps, openStore, tempDir } from '../support/binlog-fixtures';

const SMALL = { fsyncEveryMs: 0, segmentBytes: 8192 };

function diskFullWhen(ops: FaultyFileOps, full: () => boolean): void {
  ops.rule = (op, file) =>
    full() && file.includes('spare-') && (op === 'write' || op === 'writeSync') ? 'ENOSPC' : undefined;
}

describe('binlog disk full', () => {
  it('disk full: a put that cannot be logged is refused, every accepted job stays deletable, service goes on', async () => {
    const dir = tempDir();
    const ops = new FaultyFileOps();
    let full = false;
    diskFullWhen(ops, () => full);
    const { store, binlog } = await openStore(dir, SMALL, ops);
    await durable(binlog, store.lastSeq);
    full = true;
    const accepted: number[] = [];
    let refusedAt = 0;
    for (let i = 0; i < 100 && refusedAt === 0; i++) {
      const id = store.put('b'.repeat(700));
      if (id === null) refusedAt = i;
      else accepted.push(id);
    }
    assert.ok(refusedAt > 0, 'some puts were accepted before the disk filled');
    assert.ok(accepted.length === refusedAt);
    assert.equal(store.put('b'.repeat(700)), null, 'still refused while the disk is full');
    assert.equal(ops.count('writeSync') > 0, true, 'a new segment was attempted');

    // Every accepted job can be deleted, and the deletes become durable.
    for (const id of accepted) store.delete(id);
    await durable(binlog, store.lastSeq);
    assert.equal(binlog.stats().liveJobs, 0);

    full = false;
    const later = store.put('after the disk was freed');
    assert.notEqual(later, null, 'puts work again once space is back');
    await durable(binlog, store.lastSeq);
    await binlog.close();

    const again = await openStore(dir, SMALL);
    await again.binlog.close();
    assert.deepEqual([...again.store.jobs.keys()], [later]);
    assert.ok(again.store.nextId > later!);
  });

  it('disk full: with the segment filled to the last byte every reserved delete still fits', async () => {
    const dir = tempDir();
    const ops = new FaultyFileOps();
    let full = false;
    diskFullWhen(ops, () => full);
    const { store, binlog } = await openStore(dir, SMALL, ops);
    full = true;
    const accepted: number[] = [];
    // Tiny puts until refused, then updates until refused: the segment is as full as it can get.
    for (let id = store.put(''); id !== null; id = store.put('')) accepted.push(id);
    let updates = 0;
    while (store.update(accepted[updates % accepted.length]!, { state: JobState.Buried, buries: 1 }))
      updates++;
    assert.ok(accepted.length > 10);
    for (const id of accepted) store.delete(id);
    await durable(binlog, store.lastSeq);
    await binlog.close();
    const again = await openStore(dir, SMALL);
    await again.binlog.close();
    assert.equal(again.store.jobs.size, 0, 'every delete was written');
  });

  it('disk full: a failing batch write refuses puts meanwhile and rewrites the batch once the disk recovers', async () => {
    const dir = tempDir();
    const ops = new FaultyFileOps();
    let broken = false;
    ops.rule = (op) => (broken && op === 'writev' ? 'EIO' : undefined);
    const lines: string[] = [];
    const { store, binlog } = await openStore(dir, { ...SMALL, log: (l) => lines.push(l) }, ops);
    await durable(binlog, store.lastSeq);
    broken = true;
    const id = store.put('survives the EIO')!;
    const seq = store.lastSeq;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(binlog.durableSeq() < seq, 'not durable while writes fail');
    assert.equal(store.put('refused'), null, 'puts are refused while the disk fails');
    assert.match(lines.join('\n'), /write to .* failed \(EIO/);
    broken = false;
    await durable(binlog, seq); // the retry (1 s later) writes it
    assert.notEqual(store.put('accepted again'), null);
    await durable(binlog, store.lastSeq);
    await binlog.close();
    const again = await openStore(dir, SMALL);
    await again.binlog.close();
    assert.equal(again.store.jobs.get(id)?.body.toString(), 'survives the EIO');
  });

  it('disk full: after a failed fsync the data is written again, not just fsynced again', async () => {
    const dir = tempDir();
    const ops = new FaultyFileOps();
    let failSyncs = 0;
    ops.rule = (op) => (op === 'fdatasync' && failSyncs > 0 && failSyncs-- > 0 ? 'EIO' : undefined);
    const { store, binlog } = await openStore(dir, SMALL, ops);
    await durable(binlog, store.lastSeq);
    failSyncs = 1;
    const writesBefore = ops.count('writev');
    store.put('x');
    await durable(binlog, store.lastSeq);
    assert.equal(ops.count('writev') - writesBefore, 2, 'the batch was written twice');
    await binlog.close();
  });
});
