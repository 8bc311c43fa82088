/**
 * The on-disk format of a stalkd segment (our own, not beanstalkd's). All integers little-endian.
 *
 * File header, 32 bytes:
 *   0  8  magic "STALKDLG"
 *   8  2  format version (FORMAT_VERSION)
 *  10  2  header bytes (32)
 *  12  8  created at, ms since epoch (u64)
 *  20  8  reserved, zero
 *  28  4  CRC32C of bytes 0..28
 *
 * Record: 12-byte header + payload. Records never span segments. The rest of a preallocated segment
 * is zeros, so an all-zero record header marks the end of the data.
 *   0  2  marker 0xEAB5 (bytes B5 EA): lets replay resynchronise after a damaged record
 *   2  1  format version of this record (FORMAT_VERSION)
 *   3  1  type (RecordType)
 *   4  4  payload bytes
 *   8  4  CRC32C of header bytes 0..8 followed by the payload
 *  12  …  payload; every payload starts with the record's LSN (u64, strictly increasing across segments)
 *
 * Payloads after the LSN:
 *   Start  (first record of a segment): max job id logged so far u64, segment index u32, flags u32
 *          (START_IMPORTED: converted from beanstalkd binlog files; START_NEW_TERM: the first segment
 *          of a primary's term), started at ms u64, term u64 (the primary's term, replication; absent
 *          in files written before it: term 0).
 *   Put    (a job's full record: put, compaction copy, import): job meta (JOB_META_BYTES), order LSN u64
 *          (LSN that set the job's current state, for buried FIFO order after a copy; 0 = this record),
 *          flags u8 (PUT_MIGRATED, PUT_IMPORTED), tube length u8, tube (latin1), body length u32, body.
 *   Update (bury, kick, release): job meta.
 *   Delete: job id u64.
 *          With PUT_ORIGIN the body is followed by the job's import key (x-import): origin id u64,
 *          imported at ms u64, origin node length u8, node (latin1); with PUT_MOVING (a compaction
 *          copy of a moving job) by the node it moves to: length u8, name (latin1).
 *   Move   (x-move-out): job meta (the state it moves from), destination length u8, name (latin1).
 *   Import (a compaction copy of an import key whose job may be gone): new id u64, origin id u64,
 *          imported at ms u64, origin node length u8, node (latin1).
 *   Ids    : id ceiling u64, flags u32. Without IDS_EXACT: ids up to the ceiling may be handed out
 *            (written, and synced unless -F, before the first of them is used), so a restart goes on
 *            above it. With IDS_EXACT (a clean stop): the highest id ever handed out, which lets the
 *            next start continue right after it instead of above the last ceiling.
 * Job meta, 65 bytes: id u64, pri u32, state u8, delay ms u64, ttr ms u64, created at ms u64,
 *   deadline at ms u64, reserves u32, timeouts u32, releases u32, buries u32, kicks u32.
 */
import { type ImportKey, type JobRecord, JobState } from '../engine/journal';
import { crc32c } from './crc32c';

export const FORMAT_VERSION = 1;
export const FILE_MAGIC = Buffer.from('STALKDLG', 'latin1');
export const FILE_HEADER_BYTES = 32;
export const RECORD_HEADER_BYTES = 12;
const MARKER_0 = 0xb5;
const MARKER_1 = 0xea;
export const RECORD_MARKER = Buffer.from([MARKER_0, MARKER_1]);

export const RecordType = { Start: 1, Put: 2, Update: 3, Delete: 4, Ids: 5, Move: 6, Import: 7 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const START_IMPORTED = 1;
export const START_NEW_TERM = 2;
export const PUT_MIGRATED = 1;
export const PUT_IMPORTED = 2;
export const PUT_ORIGIN = 4;
export const PUT_MOVING = 8;
export const IDS_EXACT = 1;

/**
 * A Put record's flags say it is a job its primary made (a put or an x-import), not a compaction
 * copy nor a job converted from beanstalkd's files: what the primary counted in total-jobs.
 */
export function isMadePut(flags: number): boolean {
  return (flags & (PUT_MIGRATED | PUT_IMPORTED)) === 0;
}

const LSN_BYTES = 8;
export const JOB_META_BYTES = 65;
/** Start records of files written before terms existed lack the term. */
const START_PAYLOAD_NO_TERM_BYTES = LSN_BYTES + 8 + 4 + 4 + 8;
const START_PAYLOAD_BYTES = START_PAYLOAD_NO_TERM_BYTES + 8;
const PUT_FIXED_PAYLOAD_BYTES = LSN_BYTES + JOB_META_BYTES + 8 + 1 + 1 + 4;
export const START_RECORD_BYTES = RECORD_HEADER_BYTES + START_PAYLOAD_BYTES;
export const UPDATE_RECORD_BYTES = RECORD_HEADER_BYTES + LSN_BYTES + JOB_META_BYTES;
export const DELETE_RECORD_BYTES = RECORD_HEADER_BYTES + LSN_BYTES + 8;
/** The shortest put record: empty body, one-letter tube (what bounds the reservations' growth). */
export const MIN_PUT_RECORD_BYTES = RECORD_HEADER_BYTES + PUT_FIXED_PAYLOAD_BYTES + 1;
export const IDS_RECORD_BYTES = RECORD_HEADER_BYTES + LSN_BYTES + 8 + 4;
/** Largest payload replay accepts: a 1 GiB body (beanstalkd's -z ceiling) plus the fixed part and tube. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024 * 1024 + PUT_FIXED_PAYLOAD_BYTES + 255;

const TWO_32 = 2 ** 32;
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}$/;

/** `moving` is never written (a moving job is logged in the state it moves from): 0 would not decode. */
const STATE_CODE: Record<JobState, number> = { ready: 1, reserved: 2, delayed: 3, buried: 4, moving: 0 };
const STATE_BY_CODE: readonly (JobState | undefined)[] = [
  undefined,
  JobState.Ready,
  JobState.Reserved,
  JobState.Delayed,
  JobState.Buried,
];

/** A job's record without its tube: what an Update carries. */
export type JobMeta = Omit<JobRecord, 'tube'>;

export type LogRecord =
  | {
      type: typeof RecordType.Start;
      lsn: number;
      maxId: number;
      segmentIndex: number;
      flags: number;
      term: number;
    }
  | {
      type: typeof RecordType.Put;
      lsn: number;
      job: JobRecord;
      orderLsn: number;
      flags: number;
      /** The body is buf[bodyAt, bodyAt + bodyBytes) of the buffer decoded (no view made per record). */
      bodyAt: number;
      bodyBytes: number;
      /** PUT_ORIGIN: the job's import key. */
      origin?: ImportKey;
      /** PUT_MOVING: the node the job is moving to. */
      movingTo?: string;
    }
  | { type: typeof RecordType.Move; lsn: number; job: JobMeta; dest: string }
  | { type: typeof RecordType.Import; lsn: number; key: ImportKey }
  | { type: typeof RecordType.Update; lsn: number; job: JobMeta }
  | { type: typeof RecordType.Delete; lsn: number; id: number }
  | { type: typeof RecordType.Ids; lsn: number; ceiling: number; flags: number };

/** What a full record may carry after the body. */
export interface PutExtra {
  origin?: ImportKey | undefined;
  movingTo?: string | undefined;
}

const ORIGIN_FIXED_BYTES = 8 + 8 + 1;

function extraBytes(extra: PutExtra | undefined): number {
  if (extra === undefined) return 0;
  let n = 0;
  if (extra.origin) n += ORIGIN_FIXED_BYTES + extra.origin.node.length;
  if (extra.movingTo !== undefined) n += 1 + extra.movingTo.length;
  return n;
}

export function putRecordBytes(tube: string, bodyBytes: number, extra?: PutExtra): number {
  return RECORD_HEADER_BYTES + PUT_FIXED_PAYLOAD_BYTES + tube.length + bodyBytes + extraBytes(extra);
}

export const moveRecordBytes = (dest: string): number =>
  RECORD_HEADER_BYTES + LSN_BYTES + JOB_META_BYTES + 1 + dest.length;
export const importRecordBytes = (key: ImportKey): number =>
  RECORD_HEADER_BYTES + LSN_BYTES + 8 + ORIGIN_FIXED_BYTES + key.node.length;

/**
 * Integers are stored byte by byte: Buffer#writeUInt32LE validates its arguments on every call,
 * which was a tenth of a logged put's encoding (issue 18). Callers pass integers in range (pri and
 * counters are u32, times and ids below 2^53).
 */
function writeU32(buf: Buffer, off: number, n: number): void {
  buf[off] = n;
  buf[off + 1] = n >>> 8;
  buf[off + 2] = n >>> 16;
  buf[off + 3] = n >>> 24;
}

function writeU64(buf: Buffer, off: number, n: number): void {
  writeU32(buf, off, n % TWO_32);
  writeU32(buf, off + 4, Math.floor(n / TWO_32));
}

/** A latin1 name at off (tube and node names are ASCII, at most 255 bytes); returns its length. */
function writeLatin1(buf: Buffer, off: number, name: string): number {
  const n = name.length;
  // A native write costs more than the loop for the short names queues use.
  if (n > 32) return buf.write(name, off, 'latin1');
  for (let i = 0; i < n; i++) buf[off + i] = name.charCodeAt(i);
  return n;
}

/** Returns -1 when the value is beyond Number.MAX_SAFE_INTEGER (never written by us: garbage). */
function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 0x200000) return -1;
  return hi * TWO_32 + buf.readUInt32LE(off);
}

export function encodeFileHeader(createdAtMs: number): Buffer {
  const buf = Buffer.alloc(FILE_HEADER_BYTES);
  FILE_MAGIC.copy(buf, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 8);
  buf.writeUInt16LE(FILE_HEADER_BYTES, 10);
  writeU64(buf, 12, createdAtMs);
  writeU32(buf, 28, crc32c(buf, 0, 28));
  return buf;
}

/** Why a file header is unusable, or undefined when it is fine. */
export function checkFileHeader(buf: Buffer): string | undefined {
  if (buf.length < FILE_HEADER_BYTES) return `file is shorter than its ${FILE_HEADER_BYTES}-byte header`;
  if (!buf.subarray(0, 8).equals(FILE_MAGIC)) return 'bad magic (not a stalkd segment)';
  if (buf.readUInt32LE(28) !== crc32c(buf, 0, 28)) return 'header checksum mismatch';
  const version = buf.readUInt16LE(8);
  if (version !== FORMAT_VERSION) return `unsupported format version ${version}`;
  return undefined;
}

function writeRecordHeader(buf: Buffer, off: number, type: RecordType, payloadBytes: number): void {
  buf[off] = MARKER_0;
  buf[off + 1] = MARKER_1;
  buf[off + 2] = FORMAT_VERSION;
  buf[off + 3] = type;
  writeU32(buf, off + 4, payloadBytes);
}

/** Fills in the CRC of a record whose header and payload are already in place. */
function sealRecord(buf: Buffer, off: number, totalBytes: number): void {
  const crc = crc32c(buf, off + RECORD_HEADER_BYTES, off + totalBytes, crc32c(buf, off, off + 8));
  writeU32(buf, off + 8, crc);
}

function writeJobMeta(buf: Buffer, off: number, job: JobMeta): void {
  writeU64(buf, off, job.id);
  writeU32(buf, off + 8, job.pri);
  buf[off + 12] = STATE_CODE[job.state];
  writeU64(buf, off + 13, job.delayMs);
  writeU64(buf, off + 21, job.ttrMs);
  writeU64(buf, off + 29, Math.floor(job.createdAtMs)); // whole ms on disk (the fraction: in memory)
  writeU64(buf, off + 37, job.deadlineAtMs);
  writeU32(buf, off + 45, job.reserves);
  writeU32(buf, off + 49, job.timeouts);
  writeU32(buf, off + 53, job.releases);
  writeU32(buf, off + 57, job.buries);
  writeU32(buf, off + 61, job.kicks);
}

/** Reads job meta; `tube` is stored alongside so a Put builds its record in one object. */
function readJob(buf: Buffer, off: number, tube: string): JobRecord | undefined {
  const state = STATE_BY_CODE[buf[off + 12]!];
  const id = readU64(buf, off);
  const delayMs = readU64(buf, off + 13);
  const ttrMs = readU64(buf, off + 21);
  const createdAtMs = readU64(buf, off + 29);
  const deadlineAtMs = readU64(buf, off + 37);
  if (state === undefined || id < 1 || delayMs < 0 || ttrMs < 0 || createdAtMs < 0 || deadlineAtMs < 0) {
    return undefined;
  }
  return {
    id,
    tube,
    pri: buf.readUInt32LE(off + 8),
    state,
    delayMs,
    ttrMs,
    createdAtMs,
    deadlineAtMs,
    reserves: buf.readUInt32LE(off + 45),
    timeouts: buf.readUInt32LE(off + 49),
    releases: buf.readUInt32LE(off + 53),
    buries: buf.readUInt32LE(off + 57),
    kicks: buf.readUInt32LE(off + 61),
  };
}

export function encodeStart(
  buf: Buffer,
  off: number,
  lsn: number,
  maxId: number,
  index: number,
  flags: number,
  term = 0,
): number {
  writeRecordHeader(buf, off, RecordType.Start, START_PAYLOAD_BYTES);
  const p = off + RECORD_HEADER_BYTES;
  writeU64(buf, p, lsn);
  writeU64(buf, p + 8, maxId);
  writeU32(buf, p + 16, index);
  writeU32(buf, p + 20, flags);
  writeU64(buf, p + 24, Date.now());
  writeU64(buf, p + 32, term);
  sealRecord(buf, off, START_RECORD_BYTES);
  return START_RECORD_BYTES;
}

/** Writes a full record at buf[off]; buf must have putRecordBytes(job.tube, body.length) bytes there. */
export function encodePut(
  buf: Buffer,
  off: number,
  lsn: number,
  job: JobRecord,
  body: Uint8Array,
  orderLsn: number,
  flags: number,
  extra?: PutExtra,
): number {
  const total = putRecordBytes(job.tube, body.length, extra);
  if (extra?.origin) flags |= PUT_ORIGIN;
  if (extra?.movingTo !== undefined) flags |= PUT_MOVING;
  writeRecordHeader(buf, off, RecordType.Put, total - RECORD_HEADER_BYTES);
  let p = off + RECORD_HEADER_BYTES;
  writeU64(buf, p, lsn);
  writeJobMeta(buf, p + LSN_BYTES, job);
  p += LSN_BYTES + JOB_META_BYTES;
  writeU64(buf, p, orderLsn);
  buf[p + 8] = flags;
  buf[p + 9] = job.tube.length;
  p += 10 + writeLatin1(buf, p + 10, job.tube);
  writeU32(buf, p, body.length);
  buf.set(body, p + 4);
  p += 4 + body.length;
  if (extra?.origin) p = writeOrigin(buf, p, extra.origin);
  if (extra?.movingTo !== undefined) p = writeName(buf, p, extra.movingTo);
  sealRecord(buf, off, total);
  return total;
}

/** A node name: length u8, latin1. */
function writeName(buf: Buffer, p: number, name: string): number {
  buf[p] = name.length;
  return p + 1 + writeLatin1(buf, p + 1, name);
}

function writeOrigin(buf: Buffer, p: number, key: ImportKey): number {
  writeU64(buf, p, key.originId);
  writeU64(buf, p + 8, key.atMs);
  return writeName(buf, p + 16, key.node);
}

/** A name at p within [p, end), or undefined when it does not fit. */
function readName(buf: Buffer, p: number, end: number): string | undefined {
  if (p >= end || p + 1 + buf[p]! > end) return undefined;
  return buf.toString('latin1', p + 1, p + 1 + buf[p]!);
}

function readOrigin(buf: Buffer, p: number, end: number, newId: number): ImportKey | undefined {
  if (p + ORIGIN_FIXED_BYTES > end) return undefined;
  const originId = readU64(buf, p);
  const atMs = readU64(buf, p + 8);
  const node = readName(buf, p + 16, end);
  if (node === undefined || node.length === 0 || originId < 1 || atMs < 0) return undefined;
  return { node, originId, newId, atMs };
}

export function encodeMove(buf: Buffer, off: number, lsn: number, job: JobMeta, dest: string): number {
  const total = moveRecordBytes(dest);
  writeRecordHeader(buf, off, RecordType.Move, total - RECORD_HEADER_BYTES);
  writeU64(buf, off + RECORD_HEADER_BYTES, lsn);
  writeJobMeta(buf, off + RECORD_HEADER_BYTES + LSN_BYTES, job);
  writeName(buf, off + RECORD_HEADER_BYTES + LSN_BYTES + JOB_META_BYTES, dest);
  sealRecord(buf, off, total);
  return total;
}

export function encodeImport(buf: Buffer, off: number, lsn: number, key: ImportKey): number {
  const total = importRecordBytes(key);
  writeRecordHeader(buf, off, RecordType.Import, total - RECORD_HEADER_BYTES);
  writeU64(buf, off + RECORD_HEADER_BYTES, lsn);
  writeU64(buf, off + RECORD_HEADER_BYTES + LSN_BYTES, key.newId);
  writeOrigin(buf, off + RECORD_HEADER_BYTES + LSN_BYTES + 8, key);
  sealRecord(buf, off, total);
  return total;
}

export function encodeUpdate(buf: Buffer, off: number, lsn: number, job: JobMeta): number {
  writeRecordHeader(buf, off, RecordType.Update, UPDATE_RECORD_BYTES - RECORD_HEADER_BYTES);
  writeU64(buf, off + RECORD_HEADER_BYTES, lsn);
  writeJobMeta(buf, off + RECORD_HEADER_BYTES + LSN_BYTES, job);
  sealRecord(buf, off, UPDATE_RECORD_BYTES);
  return UPDATE_RECORD_BYTES;
}

export function encodeDelete(buf: Buffer, off: number, lsn: number, id: number): number {
  writeRecordHeader(buf, off, RecordType.Delete, DELETE_RECORD_BYTES - RECORD_HEADER_BYTES);
  writeU64(buf, off + RECORD_HEADER_BYTES, lsn);
  writeU64(buf, off + RECORD_HEADER_BYTES + LSN_BYTES, id);
  sealRecord(buf, off, DELETE_RECORD_BYTES);
  return DELETE_RECORD_BYTES;
}

export function encodeIds(buf: Buffer, off: number, lsn: number, ceiling: number, flags: number): number {
  writeRecordHeader(buf, off, RecordType.Ids, IDS_RECORD_BYTES - RECORD_HEADER_BYTES);
  writeU64(buf, off + RECORD_HEADER_BYTES, lsn);
  writeU64(buf, off + RECORD_HEADER_BYTES + LSN_BYTES, ceiling);
  writeU32(buf, off + RECORD_HEADER_BYTES + LSN_BYTES + 8, flags);
  sealRecord(buf, off, IDS_RECORD_BYTES);
  return IDS_RECORD_BYTES;
}

export type DecodeResult =
  | { ok: true; record: LogRecord; bytes: number }
  /** `zero`: the header is all zeros (end of data in a preallocated file, or a hole). */
  | { ok: false; reason: string; zero: boolean };

/**
 * Decodes the record at buf[off]. Never throws and never returns a record whose checksum or fields
 * are wrong. A Put's body stays in buf (bodyAt, bodyBytes).
 */
export function decodeRecord(buf: Buffer, off: number): DecodeResult {
  if (off + RECORD_HEADER_BYTES > buf.length) {
    return {
      ok: false,
      reason: 'record header cut off by the end of the file',
      zero: isZero(buf, off, buf.length),
    };
  }
  if (buf[off] !== MARKER_0 || buf[off + 1] !== MARKER_1) {
    const zero = isZero(buf, off, off + RECORD_HEADER_BYTES);
    return { ok: false, reason: zero ? 'zeros' : 'no record marker', zero };
  }
  const version = buf[off + 2]!;
  if (version !== FORMAT_VERSION)
    return { ok: false, reason: `unknown record version ${version}`, zero: false };
  const payloadBytes = buf.readUInt32LE(off + 4);
  if (payloadBytes < LSN_BYTES || payloadBytes > MAX_PAYLOAD_BYTES) {
    return { ok: false, reason: `impossible record length ${payloadBytes}`, zero: false };
  }
  const end = off + RECORD_HEADER_BYTES + payloadBytes;
  if (end > buf.length) return { ok: false, reason: 'record cut off by the end of the file', zero: false };
  const crc = crc32c(buf, off + RECORD_HEADER_BYTES, end, crc32c(buf, off, off + 8));
  if (crc !== buf.readUInt32LE(off + 8)) return { ok: false, reason: 'checksum mismatch', zero: false };
  const record = decodePayload(buf, buf[off + 3]!, off + RECORD_HEADER_BYTES, payloadBytes);
  if (typeof record === 'string') return { ok: false, reason: record, zero: false };
  return { ok: true, record, bytes: RECORD_HEADER_BYTES + payloadBytes };
}

/** A checksummed payload that still does not make sense is reported, never loaded. */
function decodePayload(buf: Buffer, type: number, p: number, payloadBytes: number): LogRecord | string {
  const lsn = readU64(buf, p);
  if (lsn < 1) return 'invalid LSN';
  switch (type) {
    case RecordType.Start: {
      if (payloadBytes !== START_PAYLOAD_BYTES && payloadBytes !== START_PAYLOAD_NO_TERM_BYTES)
        return 'bad start record length';
      const maxId = readU64(buf, p + 8);
      const term = payloadBytes === START_PAYLOAD_BYTES ? readU64(buf, p + 32) : 0;
      if (maxId < 0 || term < 0) return 'invalid max id or term';
      return {
        type,
        lsn,
        maxId,
        segmentIndex: buf.readUInt32LE(p + 16),
        flags: buf.readUInt32LE(p + 20),
        term,
      };
    }
    case RecordType.Put:
      return decodePut(buf, lsn, p, payloadBytes);
    case RecordType.Update: {
      if (payloadBytes !== UPDATE_RECORD_BYTES - RECORD_HEADER_BYTES) return 'bad update record length';
      const job = readJob(buf, p + LSN_BYTES, '');
      if (job === undefined) return 'invalid job fields';
      const { tube: _none, ...meta } = job;
      return { type, lsn, job: meta };
    }
    case RecordType.Delete: {
      if (payloadBytes !== DELETE_RECORD_BYTES - RECORD_HEADER_BYTES) return 'bad delete record length';
      const id = readU64(buf, p + LSN_BYTES);
      return id >= 1 ? { type, lsn, id } : 'invalid job id';
    }
    case RecordType.Move: {
      const end = p + payloadBytes;
      const job = payloadBytes > LSN_BYTES + JOB_META_BYTES ? readJob(buf, p + LSN_BYTES, '') : undefined;
      const dest = readName(buf, p + LSN_BYTES + JOB_META_BYTES, end);
      if (job === undefined || dest === undefined || dest.length === 0) return 'invalid move record';
      if (p + LSN_BYTES + JOB_META_BYTES + 1 + dest.length !== end) return 'move record length mismatch';
      const { tube: _none, ...meta } = job;
      return { type, lsn, job: meta, dest };
    }
    case RecordType.Import: {
      const end = p + payloadBytes;
      const newId = payloadBytes >= LSN_BYTES + 8 ? readU64(buf, p + LSN_BYTES) : -1;
      const key = newId >= 1 ? readOrigin(buf, p + LSN_BYTES + 8, end, newId) : undefined;
      if (key === undefined || importRecordBytes(key) - RECORD_HEADER_BYTES !== payloadBytes)
        return 'invalid import record';
      return { type, lsn, key };
    }
    case RecordType.Ids: {
      if (payloadBytes !== IDS_RECORD_BYTES - RECORD_HEADER_BYTES) return 'bad ids record length';
      const ceiling = readU64(buf, p + LSN_BYTES);
      if (ceiling < 0) return 'invalid id ceiling';
      return { type, lsn, ceiling, flags: buf.readUInt32LE(p + LSN_BYTES + 8) };
    }
    default:
      return `unknown record type ${type}`;
  }
}

function decodePut(buf: Buffer, lsn: number, p: number, payloadBytes: number): LogRecord | string {
  if (payloadBytes < PUT_FIXED_PAYLOAD_BYTES) return 'put record too short';
  let q = p + LSN_BYTES + JOB_META_BYTES;
  const orderLsn = readU64(buf, q);
  const flags = buf[q + 8]!;
  const tubeBytes = buf[q + 9]!;
  q += 10;
  if (orderLsn < 0 || PUT_FIXED_PAYLOAD_BYTES + tubeBytes > payloadBytes) return 'invalid put fields';
  const tube = buf.toString('latin1', q, q + tubeBytes);
  if (!TUBE_NAME.test(tube)) return 'invalid tube name';
  const job = readJob(buf, p + LSN_BYTES, tube);
  if (!job) return 'invalid job fields';
  q += tubeBytes;
  const bodyBytes = buf.readUInt32LE(q);
  const fixedAndBody = PUT_FIXED_PAYLOAD_BYTES + tubeBytes + bodyBytes;
  if (fixedAndBody > payloadBytes) return 'put record length mismatch';
  const rec: LogRecord = { type: RecordType.Put, lsn, job, orderLsn, flags, bodyAt: q + 4, bodyBytes };
  const end = p + payloadBytes;
  let e = q + 4 + bodyBytes;
  if ((flags & PUT_ORIGIN) !== 0) {
    const origin = readOrigin(buf, e, end, job.id);
    if (origin === undefined) return 'invalid put origin';
    rec.origin = origin;
    e += ORIGIN_FIXED_BYTES + origin.node.length;
  }
  if ((flags & PUT_MOVING) !== 0) {
    const dest = readName(buf, e, end);
    if (dest === undefined || dest.length === 0) return 'invalid put destination';
    rec.movingTo = dest;
    e += 1 + dest.length;
  }
  if (e !== end) return 'put record length mismatch';
  return rec;
}

const ZEROS = Buffer.alloc(64 * 1024);

/** True when buf[start, end) holds only zero bytes (compared natively, 64 KiB at a time). */
export function isZero(buf: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at);
    if (!buf.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/**
 * Offset of the next decodable record at or after `from`, or -1. Used after a damaged record: the
 * marker narrows the candidates, the checksum confirms one.
 */
export function findNextRecord(buf: Buffer, from: number): number {
  let at = buf.indexOf(RECORD_MARKER, from);
  while (at >= 0) {
    if (decodeRecord(buf, at).ok) return at;
    at = buf.indexOf(RECORD_MARKER, at + 1);
  }
  return -1;
}
