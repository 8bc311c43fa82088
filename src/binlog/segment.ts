/**
 * One segment file: `seg-<index, 10 digits>.stalkd` (never `binlog.N`, which is beanstalkd's).
 *
 * A segment is created preallocated (header + zeros up to its capacity, fsynced) under a temporary
 * `spare-<n>.tmp` name and renamed when it becomes the current segment. Because its blocks are already
 * allocated, appending records overwrites zeros: no ENOSPC on the write path and, since the file size
 * does not change, fdatasync has no metadata to flush. When the log moves on, the segment is
 * truncated to the bytes used and closed; it is never written again.
 *
 * Records are encoded straight into 64 KiB chunks in memory; `take()` hands the unwritten part to the
 * writer as a list of buffers for one pwritev.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { FileOps } from './file-ops';
import { DELETE_RECORD_BYTES, encodeFileHeader, FILE_HEADER_BYTES, MIN_PUT_RECORD_BYTES } from './format';
import { SegmentRefs } from './segment-refs';

const SEGMENT_NAME = /^seg-(\d{10})\.stalkd$/;
const SPARE_NAME = /^spare-\d+\.tmp$/;
const CHUNK_BYTES = 64 * 1024;
const ZERO_FILL = Buffer.alloc(1024 * 1024);
/** Preallocation granularity, as beanstalkd: capacities are rounded up to whole 4 KiB blocks. */
export const BLOCK_BYTES = 4096;

export function segmentFileName(index: number): string {
  return `seg-${String(index).padStart(10, '0')}.stalkd`;
}

export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function isSpareFileName(name: string): boolean {
  return SPARE_NAME.test(name);
}

export function roundUpToBlock(bytes: number): number {
  return Math.ceil(bytes / BLOCK_BYTES) * BLOCK_BYTES;
}

/**
 * The next segment is preallocated in the background once this share of a segment's room for new
 * records (-s) is used. The room, not the file: the file also holds every live job's reserved
 * delete record, which with many live jobs is most of it (test/binlog/preallocation.test.ts).
 */
export const SPARE_AT_FILL = 0.5;

/**
 * What the live jobs will have reserved (room for their delete records) when the current segment
 * is full, seen with `room` bytes left in it for records: each put that can still fit reserves
 * DELETE_RECORD_BYTES and takes at least MIN_PUT_RECORD_BYTES. The next segment, preallocated in
 * the background, is sized from it (the primary's and a standby's alike).
 */
export function reservedAtRotation(reserved: number, room: number): number {
  return reserved + Math.ceil((Math.max(0, room) * DELETE_RECORD_BYTES) / MIN_PUT_RECORD_BYTES);
}

/** A preallocated file not yet in the log. */
export interface SpareFile {
  path: string;
  fd: number;
  capacity: number;
}

/** A batch of appended bytes ready for one positional write. */
export interface PendingWrite {
  segment: Segment;
  position: number;
  bufs: Buffer[];
  end: number;
}

export class Segment {
  /** -1 once closed. */
  fd: number;
  /** Preallocated bytes (the file size while open). */
  capacity: number;
  /** Bytes assigned: file header plus every record appended so far. */
  used: number;
  /** Bytes handed to the OS by completed writes. */
  flushed: number;
  /** Live jobs whose latest full record or latest record of any kind lives here (and import keys). */
  readonly refs = new SegmentRefs();
  /** No more appends; the writer truncates and closes it once everything is flushed. */
  sealed = false;
  /** LSN at which refs last became empty (the superseding record must be safe before unlinking). */
  freedAtLsn = 0;
  /** LSN of the next segment's start record: that record carries the id floor this file may hold. */
  successorStartLsn = Number.POSITIVE_INFINITY;
  /** The name was just created by a rename: fsync the directory before trusting its records. */
  needsDirSync = false;
  /** LSN and term of its start record (0 until it is known): the log's term history. */
  firstLsn = 0;
  term = 0;
  /** Replication senders reading this file: retention keeps it (and every newer one) meanwhile. */
  readers = 0;
  private chunk: Buffer | undefined;
  private chunkUsed = 0;
  private chunkTaken = 0;
  private pending: Buffer[] = [];
  private pendingStart: number;

  constructor(
    readonly index: number,
    readonly path: string,
    fd: number,
    capacity: number,
    used: number,
  ) {
    this.fd = fd;
    this.capacity = capacity;
    this.used = used;
    this.flushed = used;
    this.pendingStart = used;
  }

  /** An existing, closed segment found at start-up. */
  static closed(index: number, filePath: string, bytes: number): Segment {
    return new Segment(index, filePath, -1, bytes, bytes);
  }

  /** A closed segment takes appends again after its `used` bytes (a standby continuing its log). */
  reopen(fd: number): void {
    this.fd = fd;
    this.sealed = false;
    this.flushed = this.used;
    this.pendingStart = this.used;
    this.capacity = Math.max(this.capacity, this.used);
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  /** Bytes on disk: the preallocation while open, the used length once truncated. */
  diskBytes(): number {
    return this.closed ? this.used : this.capacity;
  }

  free(): number {
    return this.capacity - this.used;
  }

  /** Room for one record of `bytes`; the caller encodes into buf at off. Caller checked free(). */
  allocate(bytes: number): { buf: Buffer; off: number } {
    assert.ok(bytes <= this.free() && !this.sealed, 'binlog: append beyond the segment or after sealing');
    if (this.chunk === undefined || this.chunk.length - this.chunkUsed < bytes) {
      this.cutChunk();
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
      this.chunkUsed = 0;
      this.chunkTaken = 0;
    }
    const off = this.chunkUsed;
    this.chunkUsed += bytes;
    this.used += bytes;
    return { buf: this.chunk, off };
  }

  hasPending(): boolean {
    return this.pending.length > 0 || this.chunkUsed > this.chunkTaken;
  }

  /** Everything appended and not yet taken, as one positional write. */
  take(): PendingWrite | undefined {
    this.cutChunk();
    if (this.pending.length === 0) return undefined;
    const write: PendingWrite = {
      segment: this,
      position: this.pendingStart,
      bufs: this.pending,
      end: this.used,
    };
    this.pending = [];
    this.pendingStart = this.used;
    return write;
  }

  private cutChunk(): void {
    if (this.chunk !== undefined && this.chunkUsed > this.chunkTaken) {
      this.pending.push(this.chunk.subarray(this.chunkTaken, this.chunkUsed));
      this.chunkTaken = this.chunkUsed;
    }
  }

  /** Drops the unused preallocation and closes the file (both off the event loop). */
  async finish(ops: FileOps): Promise<void> {
    if (this.closed) return;
    const fd = this.fd;
    this.chunk = undefined;
    this.fd = -1;
    try {
      await ops.ftruncate(fd, this.used);
    } finally {
      await ops.close(fd);
    }
  }
}

let spareCounter = 0;

/** A fresh temporary name; leftovers of a crash are removed at the next start. */
export function newSpareName(): string {
  spareCounter = (spareCounter + 1) % 1e9;
  return `spare-${process.pid}${String(spareCounter).padStart(9, '0')}.tmp`;
}

/** Creates a preallocated spare synchronously (used at start-up and when no async spare is ready). */
export function createSpareSync(ops: FileOps, dir: string, capacity: number): SpareFile {
  const filePath = path.join(dir, newSpareName());
  const fd = ops.openSync(filePath, 'wx+', 0o600);
  try {
    ops.writeSync(fd, encodeFileHeader(Date.now()), 0);
    for (let at = FILE_HEADER_BYTES; at < capacity; at += ZERO_FILL.length) {
      ops.writeSync(fd, ZERO_FILL.subarray(0, Math.min(ZERO_FILL.length, capacity - at)), at);
    }
    ops.fsyncSync(fd);
  } catch (err) {
    discardSpare(ops, { path: filePath, fd, capacity });
    throw err;
  }
  return { path: filePath, fd, capacity };
}

/**
 * A spare made larger (zeros written after its end, then fsynced) on the event loop: cheaper than
 * making a new one when what it lacks is the reservations' growth since it was prepared.
 */
export function extendSpareSync(ops: FileOps, spare: SpareFile, capacity: number): SpareFile {
  for (let at = spare.capacity; at < capacity; at += ZERO_FILL.length) {
    ops.writeSync(spare.fd, ZERO_FILL.subarray(0, Math.min(ZERO_FILL.length, capacity - at)), at);
  }
  ops.fsyncSync(spare.fd);
  return { ...spare, capacity };
}

/** Same as createSpareSync with every write and the fsync on the thread pool. */
export async function createSpare(ops: FileOps, dir: string, capacity: number): Promise<SpareFile> {
  const filePath = path.join(dir, newSpareName());
  const fd = ops.openSync(filePath, 'wx+', 0o600);
  try {
    await ops.write(fd, encodeFileHeader(Date.now()), 0);
    for (let at = FILE_HEADER_BYTES; at < capacity; at += ZERO_FILL.length) {
      await ops.write(fd, ZERO_FILL.subarray(0, Math.min(ZERO_FILL.length, capacity - at)), at);
    }
    await ops.fsync(fd);
  } catch (err) {
    discardSpare(ops, { path: filePath, fd, capacity });
    throw err;
  }
  return { path: filePath, fd, capacity };
}

/** Best effort: a leftover spare is removed at the next start anyway. */
export function discardSpare(ops: FileOps, spare: SpareFile): void {
  try {
    ops.closeSync(spare.fd);
  } catch {}
  try {
    ops.unlinkSync(spare.path);
  } catch {}
}

/** Turns a spare into segment `index` (rename; the directory is fsynced before its records count). */
export function activateSpare(ops: FileOps, dir: string, spare: SpareFile, index: number): Segment {
  const filePath = path.join(dir, segmentFileName(index));
  ops.renameSync(spare.path, filePath);
  const segment = new Segment(index, filePath, spare.fd, spare.capacity, FILE_HEADER_BYTES);
  segment.needsDirSync = true;
  return segment;
}
