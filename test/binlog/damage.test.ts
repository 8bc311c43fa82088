/**
 * Damaged files: the state on disk after a SIGKILL is the page cache, so copying the files of a
 * running binlog gives exactly what a crash leaves; the copy is then damaged and replayed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Binlog } from '../../src/binlog';
import {
  FILE_HEADER_BYTES,
  IDS_RECORD_BYTES,
  putRecordBytes,
  START_RECORD_BYTES,
} from '../../src/binlog/format';
import { JobState } from '../../src/engine/journal';
import {
  copySegments,
  durable,
  type FakeJobStore,
  openStore,
  type StoredJob,
  tempDir,
} from '../support/binlog-fixtures';

const SEG = 'seg-0000000001.stalkd';
const SMALL = { fsyncEveryMs: 0, segmentBytes: 64 * 1024 };

function snapshot(from: string): string {
  return copySegments(from, 'stalkd-damage-');
}

/** End of the written data: the last non-zero byte + 1 (records never end in a zero CRC here). */
function dataEnd(file: string): number {
  const buf = fs.readFileSync(file);
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

describe('binlog damage', () => {
  let dir: string;
  let binlog: Binlog;
  let store: FakeJobStore;
  /** Every job's state as logged, keyed by id; offsets of the five put records. */
  const originals = new Map<number, StoredJob>();
  const offsets: number[] = [];

  before(async () => {
    dir = tempDir();
    ({ store, binlog } = await openStore(dir, { fsyncEveryMs: 0 }));
    // A new segment: its start record, the id ceiling granted at start and the one logged ahead.
    let off = FILE_HEADER_BYTES + START_RECORD_BYTES + 2 * IDS_RECORD_BYTES;
    for (let i = 1; i <= 5; i++) {
      const body = `body of job ${i} `.repeat(i);
      offsets.push(off);
      off += putRecordBytes('tube-x', body.length);
      store.put(body, { tube: 'tube-x', pri: i });
    }
    for (const [id, job] of store.jobs) originals.set(id, { record: { ...job.record }, body: job.body });
    await durable(binlog, store.lastSeq);
  });

  after(async () => {
    await binlog.close();
  });

  it('damage: a torn tail is truncated and reported with file and offset', async () => {
    const copy = snapshot(dir);
    const file = path.join(copy, SEG);
    const end = dataEnd(file);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(10), 0, 10, end - 10); // the last 10 bytes never reached the disk
    fs.closeSync(fd);
    const r = await openStore(copy, SMALL);
    await r.binlog.close();
    assert.deepEqual([...r.store.jobs.keys()], [1, 2, 3, 4]);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, new RegExp(`torn tail in ${SEG} at offset ${offsets[4]}\\b`));
    assert.equal(fs.statSync(file).size, offsets[4], 'truncated at the torn record');
    const again = await openStore(copy, SMALL);
    await again.binlog.close();
    assert.deepEqual(again.warnings, [], 'the repair is permanent');
    assert.equal(again.store.jobs.size, 4);
  });

  it('damage: a flipped bit in a middle record is skipped with a loud warning naming file and offset', async () => {
    const copy = snapshot(dir);
    const file = path.join(copy, SEG);
    const buf = fs.readFileSync(file);
    buf[offsets[2]! + 120]! ^= 0x10;
    fs.writeFileSync(file, buf);
    const r = await openStore(copy, SMALL);
    await r.binlog.close();
    assert.deepEqual([...r.store.jobs.keys()], [1, 2, 4, 5]);
    assert.equal(r.warnings.length, 1);
    assert.match(
      r.warnings[0]!,
      new RegExp(`CORRUPT record in ${SEG} at offset ${offsets[2]} \\(checksum mismatch\\)`),
    );
    for (const id of [1, 2, 4, 5]) assert.deepEqual(r.store.jobs.get(id), originals.get(id));
  });

  it('damage: a garbled length field does not lose the records after it', async () => {
    const copy = snapshot(dir);
    const file = path.join(copy, SEG);
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(0xfffffff0, offsets[1]! + 4);
    fs.writeFileSync(file, buf);
    const r = await openStore(copy, SMALL);
    await r.binlog.close();
    assert.deepEqual([...r.store.jobs.keys()], [1, 3, 4, 5]);
    assert.match(r.warnings.join('\n'), new RegExp(`CORRUPT record in ${SEG} at offset ${offsets[1]} `));
  });

  it('damage: 200 random bit flips never crash, always warn, never load garbage', async () => {
    const source = snapshot(dir);
    const clean = fs.readFileSync(path.join(source, SEG));
    const end = dataEnd(path.join(source, SEG)) + 64;
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 200; trial++) {
      const copy = tempDir('stalkd-flip-');
      const buf = Buffer.from(clean);
      const at = random(end);
      buf[at]! ^= 1 << random(8);
      fs.writeFileSync(path.join(copy, SEG), buf);
      const r = await openStore(copy, SMALL);
      await r.binlog.close();
      assert.ok(r.warnings.length >= 1, `flip at ${at} went unnoticed`);
      for (const [id, job] of r.store.jobs)
        assert.deepEqual(job, originals.get(id), `flip at ${at}: job ${id}`);
      fs.rmSync(copy, { recursive: true });
    }
  });

  it('damage: a file shorter than its header or full of garbage is reported, not fatal', async () => {
    const copy = snapshot(dir);
    fs.writeFileSync(path.join(copy, 'seg-0000000002.stalkd'), Buffer.from('STALK'));
    fs.writeFileSync(path.join(copy, 'seg-0000000003.stalkd'), Buffer.alloc(5000, 0x5a));
    const r = await openStore(copy, SMALL);
    await r.binlog.close();
    assert.equal(r.store.jobs.size, 5);
    const text = r.warnings.join('\n');
    assert.match(text, /seg-0000000002\.stalkd: file is shorter than its 32-byte header/);
    assert.match(text, /seg-0000000003\.stalkd: bad magic/);
  });

  it('damage: updates and deletes after the damage still apply', async () => {
    const copy = snapshot(dir);
    const r = await openStore(copy, SMALL);
    r.store.update(1, { state: JobState.Buried, buries: 1 });
    r.store.delete(2);
    await durable(r.binlog, r.store.lastSeq);
    await r.binlog.close();
    const again = await openStore(copy, SMALL);
    await again.binlog.close();
    assert.equal(again.store.jobs.get(1)?.record.state, JobState.Buried);
    assert.equal(again.store.jobs.has(2), false);
  });
});
