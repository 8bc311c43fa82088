/**
 * Replication: reading segment files in record-aligned chunks. Whatever the chunk size, the chunks
 * put back together are the file byte for byte, every chunk ends after a whole record (or at the
 * end), and a damaged region travels whole with the records after it.
 */
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import {
  decodeRecord,
  encodeDelete,
  encodeFileHeader,
  encodePut,
  FILE_HEADER_BYTES,
  putRecordBytes,
} from '../../src/binlog/format';
import { newJobRecord } from '../../src/engine/journal';
import { cutRecords, readChunk } from '../../src/replication/segment-reader';
import { tempDir } from '../support/binlog-fixtures';

/** A segment image: header, then records of varied sizes (one larger than the chunks used). */
function segmentImage(): { file: Buffer; starts: number[] } {
  const parts: Buffer[] = [encodeFileHeader(1_700_000_000_000)];
  const starts: number[] = [];
  let at = FILE_HEADER_BYTES;
  for (let lsn = 1; lsn <= 40; lsn++) {
    const bodyBytes = lsn === 17 ? 5000 : (lsn * 37) % 300;
    const job = newJobRecord(lsn, 'tube', 0, 0, 1000, 1_700_000_000_000);
    const bytes = lsn % 5 === 0 ? 28 : putRecordBytes('tube', bodyBytes);
    const buf = Buffer.alloc(bytes);
    if (lsn % 5 === 0) encodeDelete(buf, 0, lsn, lsn - 1);
    else encodePut(buf, 0, lsn, job, Buffer.alloc(bodyBytes, lsn), 0, 0);
    starts.push(at);
    parts.push(buf);
    at += bytes;
  }
  return { file: Buffer.concat(parts), starts };
}

async function readAll(filePath: string, limit: number, chunkBytes: number): Promise<Buffer[]> {
  const fh = await open(filePath, 'r');
  try {
    const chunks: Buffer[] = [];
    for (let at = FILE_HEADER_BYTES; at < limit; ) {
      const chunk = await readChunk(fh, at, limit, chunkBytes);
      assert.ok(chunk.end > at, 'every read makes progress');
      assert.equal(chunk.bytes.length, chunk.end - at);
      chunks.push(Buffer.from(chunk.bytes));
      at = chunk.end;
    }
    return chunks;
  } finally {
    await fh.close();
  }
}

describe('replication segment reader', () => {
  test('segment reader: chunks of any size rebuild the file and end on record boundaries', async () => {
    const { file, starts } = segmentImage();
    const filePath = path.join(tempDir(), 'seg');
    await writeFile(filePath, file);
    const boundaries = new Set([...starts, file.length]);
    for (const chunkBytes of [13, 64, 300, 1024, 256 * 1024]) {
      const chunks = await readAll(filePath, file.length, chunkBytes);
      assert.ok(Buffer.concat([file.subarray(0, FILE_HEADER_BYTES), ...chunks]).equals(file));
      let at = FILE_HEADER_BYTES;
      for (const c of chunks) {
        at += c.length;
        assert.ok(boundaries.has(at), `chunk of ${chunkBytes} ends at ${at}, not a record boundary`);
        if (chunkBytes >= 300 && c.length > chunkBytes) {
          const r = decodeRecord(c, 0);
          assert.ok(r.ok && r.bytes === c.length, 'only a single large record exceeds the chunk size');
        }
      }
    }
  });

  test('segment reader: a corrupt header and a hole travel whole with the record after them', async () => {
    const { file, starts } = segmentImage();
    const damaged = Buffer.from(file);
    damaged[starts[10] as number] = 0x00; // marker gone: replay would report a CORRUPT record
    damaged.fill(0, starts[20] as number, starts[22] as number); // a hole of two records
    const filePath = path.join(tempDir(), 'seg');
    await writeFile(filePath, damaged);
    for (const chunkBytes of [64, 700, 256 * 1024]) {
      const chunks = await readAll(filePath, damaged.length, chunkBytes);
      assert.ok(Buffer.concat([damaged.subarray(0, FILE_HEADER_BYTES), ...chunks]).equals(damaged));
      let at = FILE_HEADER_BYTES;
      for (const c of chunks) {
        at += c.length;
        assert.ok([...starts, damaged.length].includes(at), `cut at ${at}`);
        assert.notEqual(at, starts[11], 'the damaged record is never cut from the record after it');
        assert.notEqual(at, starts[21]);
      }
    }
  });

  test('segment reader: a torn record at the readable limit is sent with the rest', () => {
    const { file, starts } = segmentImage();
    const torn = file.subarray(FILE_HEADER_BYTES, (starts[3] as number) + 20);
    const cut = cutRecords(torn, true);
    assert.equal(cut.end, torn.length);
    const open = cutRecords(torn, false);
    assert.equal(open.end, (starts[3] as number) - FILE_HEADER_BYTES, 'not at the limit: wait for the rest');
    assert.equal(open.lastLsn, 3);
  });
});
