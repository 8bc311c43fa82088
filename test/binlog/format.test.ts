import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '../../src/binlog/crc32c';
import {
  checkFileHeader,
  DELETE_RECORD_BYTES,
  decodeRecord,
  encodeDelete,
  encodeFileHeader,
  encodePut,
  encodeStart,
  encodeUpdate,
  FILE_HEADER_BYTES,
  findNextRecord,
  PUT_MIGRATED,
  putRecordBytes,
  RecordType,
  START_IMPORTED,
  START_RECORD_BYTES,
  UPDATE_RECORD_BYTES,
} from '../../src/binlog/format';
import { type JobRecord, JobState } from '../../src/engine/journal';

const job: JobRecord = {
  id: 2 ** 40 + 7,
  tube: 'a$b_c(d)+e/f;g.h-1',
  pri: 4294967295,
  delayMs: 4294967295000,
  ttrMs: 120_000,
  createdAtMs: 1_700_000_000_123,
  deadlineAtMs: 1_700_000_100_123,
  state: JobState.Delayed,
  reserves: 1,
  timeouts: 2,
  releases: 3,
  buries: 4,
  kicks: 4294967295,
};

function encodedPut(body = Buffer.from('hello\r\nworld')): Buffer {
  const buf = Buffer.alloc(putRecordBytes(job.tube, body.length));
  encodePut(buf, 0, 99, job, body, 42, PUT_MIGRATED);
  return buf;
}

describe('binlog format', () => {
  it('crc32c: check value and chaining', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, twice over');
    for (let cut = 0; cut <= data.length; cut++) {
      assert.equal(crc32c(data, cut, data.length, crc32c(data, 0, cut)), crc32c(data));
    }
  });

  it('format: a creation time with a sub-millisecond fraction is stored as whole milliseconds', () => {
    const precise = { ...job, createdAtMs: job.createdAtMs + 0.875 };
    const body = Buffer.from('x');
    const buf = Buffer.alloc(putRecordBytes(job.tube, body.length));
    encodePut(buf, 0, 1, precise, body, 1, 0);
    const put = decodeRecord(buf, 0);
    assert.ok(put.ok && put.record.type === RecordType.Put);
    if (put.record.type === RecordType.Put) assert.equal(put.record.job.createdAtMs, job.createdAtMs);
  });

  it('format: file header round trip and damage', () => {
    const header = encodeFileHeader(1234);
    assert.equal(header.length, FILE_HEADER_BYTES);
    assert.equal(checkFileHeader(header), undefined);
    const flipped = Buffer.from(header);
    flipped[13]! ^= 1;
    assert.match(checkFileHeader(flipped) ?? '', /checksum/);
    assert.match(checkFileHeader(Buffer.alloc(32)) ?? '', /magic/);
    assert.match(checkFileHeader(header.subarray(0, 10)) ?? '', /shorter/);
  });

  it('format: every record type round-trips every field', () => {
    const put = decodeRecord(encodedPut(), 0);
    assert.ok(put.ok);
    assert.equal(put.record.type, RecordType.Put);
    if (put.record.type !== RecordType.Put) return;
    assert.deepEqual(put.record.job, job);
    assert.equal(put.record.lsn, 99);
    assert.equal(put.record.orderLsn, 42);
    assert.equal(put.record.flags, PUT_MIGRATED);
    const { bodyAt, bodyBytes } = put.record;
    assert.equal(encodedPut().toString('latin1', bodyAt, bodyAt + bodyBytes), 'hello\r\nworld');

    const buf = Buffer.alloc(START_RECORD_BYTES + UPDATE_RECORD_BYTES + DELETE_RECORD_BYTES);
    let off = encodeStart(buf, 0, 1, 2 ** 50, 7, START_IMPORTED, 9);
    off += encodeUpdate(buf, off, 2, { ...job, state: JobState.Buried, deadlineAtMs: 0 });
    encodeDelete(buf, off, 3, 12345);
    const start = decodeRecord(buf, 0);
    assert.ok(start.ok);
    assert.deepEqual(start.record, {
      type: RecordType.Start,
      lsn: 1,
      maxId: 2 ** 50,
      segmentIndex: 7,
      flags: 1,
      term: 9,
    });
    // A start record written before terms existed (8 bytes shorter) reads as term 0.
    const old = Buffer.alloc(START_RECORD_BYTES - 8);
    old.writeUInt16LE(0xeab5, 0);
    old[2] = 1;
    old[3] = RecordType.Start;
    old.writeUInt32LE(START_RECORD_BYTES - 8 - 12, 4);
    buf.copy(old, 12, 12, START_RECORD_BYTES - 8);
    old.writeUInt32LE(crc32c(old, 12, old.length, crc32c(old, 0, 8)), 8);
    const oldStart = decodeRecord(old, 0);
    assert.ok(oldStart.ok && oldStart.record.type === RecordType.Start);
    if (oldStart.record.type === RecordType.Start) assert.equal(oldStart.record.term, 0);
    const update = decodeRecord(buf, START_RECORD_BYTES);
    assert.ok(update.ok);
    const { tube: _tube, ...meta } = job;
    assert.deepEqual(update.record, {
      type: RecordType.Update,
      lsn: 2,
      job: { ...meta, state: JobState.Buried, deadlineAtMs: 0 },
    });
    const del = decodeRecord(buf, START_RECORD_BYTES + UPDATE_RECORD_BYTES);
    assert.ok(del.ok);
    assert.deepEqual(del.record, { type: RecordType.Delete, lsn: 3, id: 12345 });
  });

  it('format: empty body and 200-byte tube', () => {
    const long = { ...job, tube: 'x'.repeat(200) };
    const buf = Buffer.alloc(putRecordBytes(long.tube, 0));
    encodePut(buf, 0, 1, long, Buffer.alloc(0), 0, 0);
    const r = decodeRecord(buf, 0);
    assert.ok(r.ok && r.record.type === RecordType.Put);
    if (r.record.type === RecordType.Put) {
      assert.equal(r.record.job.tube, long.tube);
      assert.equal(r.record.bodyBytes, 0);
    }
  });

  it('format: a flipped bit anywhere in a record is never decoded as a record', () => {
    const good = encodedPut();
    for (let byte = 0; byte < good.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(good);
        bad[byte]! ^= 1 << bit;
        const r = decodeRecord(bad, 0);
        assert.equal(r.ok, false, `flip of bit ${bit} in byte ${byte} was accepted`);
      }
    }
  });

  it('format: zeros read as the end of data, a cut record as damage', () => {
    const zeros = decodeRecord(Buffer.alloc(64), 0);
    assert.deepEqual(zeros, { ok: false, reason: 'zeros', zero: true });
    const cut = decodeRecord(encodedPut().subarray(0, 40), 0);
    assert.equal(cut.ok, false);
    if (!cut.ok) assert.equal(cut.zero, false);
  });

  it('format: findNextRecord skips garbage up to the next intact record', () => {
    const rec = encodedPut();
    const garbage = Buffer.from([0xb5, 0xea, 1, 2, 0xff, 0xff, 0, 0, 9, 9, 9, 9, 0xb5, 0xea, 0xb5]);
    const buf = Buffer.concat([garbage, rec]);
    assert.equal(findNextRecord(buf, 0), garbage.length);
    assert.equal(findNextRecord(buf, garbage.length + 1), -1);
  });
});
