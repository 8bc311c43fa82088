/**
 * Reading a segment file for a catch-up or a full copy: bounded chunks (256 KiB) cut after the last
 * whole record, so a DATA frame never carries half a record. Records are delimited by their header
 * (marker, version, length); the standby checks each record's CRC when it applies it. A damaged
 * region (a corrupt header, a hole of zeros: what replay skipped on the primary) is sent as it is,
 * up to the next intact record, because the files must stay byte-identical; the standby skips it
 * with the same warning replay gives.
 */
import type { FileHandle } from 'node:fs/promises';
import { findNextRecord, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RECORD_MARKER } from '../binlog/format';

export const READ_CHUNK_BYTES = 256 * 1024;
const LSN_BYTES = 8;

export interface RecordCut {
  /** Bytes of buf[0, end) to send: whole records and damaged regions. */
  end: number;
  /** LSN field of the last record in buf[0, end) (a hint: the standby decodes for itself), 0 if none. */
  lastLsn: number;
  /** When end is 0: read at least this many bytes from the same offset and cut again. */
  needBytes: number;
}

/** Total bytes of the record whose header is at buf[p], or -1 when the header is not plausible. */
function recordBytes(buf: Buffer, p: number): number {
  if (buf[p] !== RECORD_MARKER[0] || buf[p + 1] !== RECORD_MARKER[1]) return -1;
  const payloadBytes = buf.readUInt32LE(p + 4);
  if (payloadBytes < LSN_BYTES || payloadBytes > MAX_PAYLOAD_BYTES) return -1;
  return RECORD_HEADER_BYTES + payloadBytes;
}

/**
 * Where to cut buf (read at some offset of a segment) so it ends after a whole record. `atLimit`:
 * buf reaches the end of what may be read (the segment's end, or what the primary has written), so
 * a trailing damaged region can be sent whole.
 */
export function cutRecords(buf: Buffer, atLimit: boolean): RecordCut {
  let p = 0;
  let lastLsn = 0;
  while (p + RECORD_HEADER_BYTES <= buf.length) {
    const bytes = recordBytes(buf, p);
    if (bytes > 0 && p + bytes <= buf.length) {
      lastLsn = Number(buf.readBigUInt64LE(p + RECORD_HEADER_BYTES));
      p += bytes;
      continue;
    }
    if (bytes > 0 && !atLimit) {
      // A whole record that does not fit: the caller reads it in one piece.
      return { end: p, lastLsn, needBytes: p === 0 ? bytes : 0 };
    }
    const next = findNextRecord(buf, p + 1);
    if (next > 0) {
      p = next; // the damaged region travels with the records after it
      continue;
    }
    if (atLimit) return { end: buf.length, lastLsn, needBytes: 0 };
    return { end: p, lastLsn, needBytes: p === 0 ? buf.length * 2 : 0 };
  }
  if (atLimit && p < buf.length) return { end: buf.length, lastLsn, needBytes: 0 };
  return { end: p, lastLsn, needBytes: p === 0 ? RECORD_HEADER_BYTES : 0 };
}

export interface ChunkRead {
  bytes: Buffer;
  /** Offset after the bytes. */
  end: number;
  lastLsn: number;
}

/**
 * Reads the next record-aligned chunk of [offset, limit) from a segment file: about
 * READ_CHUNK_BYTES, more only for a single record (or damaged region) that is larger.
 */
export async function readChunk(
  file: FileHandle,
  offset: number,
  limit: number,
  chunkBytes = READ_CHUNK_BYTES,
): Promise<ChunkRead> {
  let want = Math.min(chunkBytes, limit - offset);
  for (;;) {
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await file.read(buf, 0, want, offset);
    const data = buf.subarray(0, bytesRead);
    const atLimit = offset + bytesRead >= limit;
    const cut = cutRecords(data, atLimit);
    if (cut.end > 0 || bytesRead === 0) {
      return { bytes: data.subarray(0, cut.end), end: offset + cut.end, lastLsn: cut.lastLsn };
    }
    if (bytesRead < want) {
      throw new Error(`segment file shorter than expected: ${offset + bytesRead} < ${offset + want}`);
    }
    want = Math.min(Math.max(cut.needBytes, want + 1), limit - offset);
  }
}
