/**
 * The log policy (beanstalkd's walg.c): the Journal the engine writes to, space reservation,
 * segment rotation, compaction and deletion of old segments. File mechanics live in segment.ts,
 * durability timing in log-writer.ts, the byte format in format.ts.
 *
 * Space: the current segment always keeps `reservedBytes` free — one delete record for every live
 * job — so logDelete never needs a new file and never fails. A put reserves its delete when it is
 * logged; when the room (or a new segment) cannot be had it returns null and the engine answers
 * OUT_OF_MEMORY. A new segment is preallocated with room for all reservations plus `-s` bytes.
 *
 * Compaction: each live job pins the segment holding its latest full record and the one holding its
 * latest record of any kind. Segments are unlinked oldest first (so the files left are always a
 * suffix of the log and replay stays correct), once nothing pins them and the records that superseded
 * them are safe (fsynced; written under -F). While the closed segments hold more than twice the live
 * data, live jobs of the oldest segments are rewritten into the current one from the engine's current
 * state (JobSource), at least twice as many bytes per batch as the commands wrote.
 */
import type { JobRecord, Journal } from '../engine/journal';
import type { FileOps } from './file-ops';
import {
  DELETE_RECORD_BYTES,
  encodeDelete,
  encodePut,
  encodeStart,
  encodeUpdate,
  FILE_HEADER_BYTES,
  PUT_MIGRATED,
  putRecordBytes,
  START_RECORD_BYTES,
  UPDATE_RECORD_BYTES,
} from './format';
import { LogWriter, SyncMode } from './log-writer';
import {
  activateSpare,
  createSpare,
  createSpareSync,
  discardSpare,
  roundUpToBlock,
  type Segment,
  type SpareFile,
} from './segment';

export const DEFAULT_SEGMENT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_FSYNC_EVERY_MS = 50;
/** Smallest segment we create, whatever -s says: header + start record + room for a few records. */
const MIN_SEGMENT_BYTES = 4096;
/** Compaction copies at least this much per batch while the log is over its bound (also when idle). */
const MIN_COMPACT_BYTES = 256 * 1024;
const IDLE_COMPACT_MS = 10;
/** The next segment is preallocated in the background once the current one is this full. */
const SPARE_AT_FILL = 0.5;

export interface BinlogOptions {
  /** -s: segment size in bytes as given (stats show it as is; files are rounded up to 4 KiB). */
  segmentBytes?: number;
  /** -f MS: fsync at most every MS ms; 0 = strict group commit; null = -F (never fsync). */
  fsyncEveryMs?: number | null;
  /** Where operating warnings go (disk full, write errors). Default: stderr. */
  log?: (line: string) => void;
}

/** The engine's current view of a live job, for compaction copies. */
export type JobSource = (id: number) => { record: JobRecord; body: Buffer } | undefined;

export interface BinlogStats {
  /** Index of the oldest segment file (`binlog-oldest-index`). */
  oldestIndex: number;
  /** Index of the segment being written (`binlog-current-index`). */
  currentIndex: number;
  recordsMigrated: number;
  /** Job records written, compaction copies included. */
  recordsWritten: number;
  /** -s as given (`binlog-max-size`). */
  maxSizeBytes: number;
  /** Bytes of every segment file (preallocation and the spare included). */
  diskBytes: number;
  /** Capacity of the current segment (preallocated). */
  currentBytes: number;
  /** Capacity of the preallocated next segment (ready or being written), 0 when there is none. */
  spareBytes: number;
  /** Bytes of the live jobs' full records: what a freshly compacted log would hold. */
  liveBytes: number;
  liveJobs: number;
  segments: number;
  fsyncs: number;
}

/** Where a live job's records are; `orderLsn` = LSN that set its current state (buried FIFO order). */
export interface JobEntry {
  seg: Segment;
  bodySeg: Segment;
  fullBytes: number;
  orderLsn: number;
}

/** Replay's findings handed to the constructor. */
export interface BinlogInit {
  segments: Segment[];
  /** Live jobs by id (replay hands over its map: no second index of millions of entries). */
  jobs: Map<number, JobEntry>;
  maxId: number;
  lastLsn: number;
  nextSegmentIndex: number;
  recordsMigrated: number;
  release: () => Promise<void>;
}

export class Binlog implements Journal {
  readonly mode: SyncMode;
  private readonly writer: LogWriter;
  private readonly segmentCapacity: number;
  private readonly segments: Segment[];
  private current!: Segment;
  private readonly jobs: Map<number, JobEntry>;
  /** One delete record per live job: the current segment always keeps this much free. */
  private reservedBytes = 0;
  private liveBytes = 0;
  private nextLsn: number;
  private maxId: number;
  private nextSegmentIndex: number;
  private spare: SpareFile | undefined;
  private spareCreation: Promise<void> | undefined;
  /** Capacity of the spare being preallocated (its file already takes disk space). */
  private spareCreationBytes = 0;
  private jobSource: JobSource | undefined;
  private appendedSinceBatch = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private gc: Promise<void> | undefined;
  private closing = false;
  private spaceWarned = false;
  private recordsWritten = 0;
  private recordsMigrated: number;
  private readonly log: (line: string) => void;

  constructor(
    private readonly ops: FileOps,
    private readonly dir: string,
    private readonly options: BinlogOptions,
    private readonly init: BinlogInit,
  ) {
    const fsyncEveryMs = options.fsyncEveryMs === undefined ? DEFAULT_FSYNC_EVERY_MS : options.fsyncEveryMs;
    this.mode =
      fsyncEveryMs === null ? SyncMode.Never : fsyncEveryMs === 0 ? SyncMode.Strict : SyncMode.Interval;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.segmentCapacity = roundUpToBlock(
      Math.max(options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES),
    );
    this.segments = init.segments;
    this.nextLsn = init.lastLsn + 1;
    this.maxId = init.maxId;
    this.nextSegmentIndex = init.nextSegmentIndex;
    this.recordsMigrated = init.recordsMigrated;
    this.writer = new LogWriter(ops, dir, this.mode, fsyncEveryMs ?? 0, this.writerHooks(), init.lastLsn);
    this.jobs = init.jobs;
    for (const [id, j] of this.jobs) {
      j.seg.refs.add(id);
      j.bodySeg.refs.add(id);
      this.liveBytes += j.fullBytes;
    }
    this.reservedBytes = this.jobs.size * DELETE_RECORD_BYTES;
    // Replay never appends to old files: every start opens a new segment (its start record carries
    // the id floor). A failure here is a start-up error and propagates.
    const spare = createSpareSync(ops, dir, this.capacityFor(this.reservedBytes));
    this.openSegment(spare);
  }

  private writerHooks() {
    return {
      beforeBatch: () => this.compact(),
      afterStep: () => {
        this.gc ??= this.collectGarbage().finally(() => {
          this.gc = undefined;
        });
        this.armIdleCompaction();
      },
      onFailure: (err: Error) =>
        this.log(
          `binlog: write to ${this.dir} failed (${err.message}); retrying, puts answer OUT_OF_MEMORY meanwhile`,
        ),
    };
  }

  // ---- Journal --------------------------------------------------------------------------------

  /** Full record + a reserved delete. null: no space (or the disk is failing) → OUT_OF_MEMORY. */
  logPut(job: JobRecord, body: Buffer): number | null {
    if (this.closing || this.writer.failure !== undefined) return null;
    const bytes = putRecordBytes(job.tube, body.length);
    if (!this.makeRoom(bytes, DELETE_RECORD_BYTES)) return null;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodePut(buf, off, lsn, job, body, 0, 0);
    const old = this.jobs.get(job.id);
    if (old !== undefined) this.forget(job.id, old, lsn);
    const entry: JobEntry = { seg: this.current, bodySeg: this.current, fullBytes: bytes, orderLsn: lsn };
    this.jobs.set(job.id, entry);
    this.current.refs.add(job.id);
    this.reservedBytes += DELETE_RECORD_BYTES;
    this.liveBytes += bytes;
    if (job.id > this.maxId) this.maxId = job.id;
    return this.appended(lsn, bytes);
  }

  /** A state record (bury, kick, release). null: no space → the engine keeps the old state. */
  logUpdate(job: JobRecord): number | null {
    if (this.closing || this.writer.failure !== undefined) return null;
    if (!this.makeRoom(UPDATE_RECORD_BYTES, 0)) return null;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(UPDATE_RECORD_BYTES);
    encodeUpdate(buf, off, lsn, job);
    const entry = this.jobs.get(job.id);
    if (entry !== undefined) {
      this.moveRefs(job.id, entry, this.current, entry.bodySeg, lsn);
      entry.orderLsn = lsn;
    }
    return this.appended(lsn, UPDATE_RECORD_BYTES);
  }

  /** Uses the room reserved by the put: never fails. */
  logDelete(jobId: number): number {
    const entry = this.jobs.get(jobId);
    if (entry === undefined || this.closing) return this.nextLsn - 1;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(DELETE_RECORD_BYTES);
    encodeDelete(buf, off, lsn, jobId);
    this.forget(jobId, entry, lsn);
    return this.appended(lsn, DELETE_RECORD_BYTES);
  }

  private appended(lsn: number, bytes: number): number {
    this.recordsWritten++;
    this.appendedSinceBatch += bytes;
    this.writer.appended(lsn);
    this.maybePrepareSpare();
    return lsn;
  }

  // ---- durability ------------------------------------------------------------------------------

  /** Every record with seq <= this is durable in the sense of the mode (see log-writer.ts). */
  durableSeq(): number {
    return this.writer.durableLsn();
  }

  /** Called with the new durableSeq() each time it advances. Returns an unsubscribe function. */
  onDurable(listener: (seq: number) => void): () => void {
    return this.writer.onDurable(listener);
  }

  /** The engine's job lookup, used to copy live jobs out of old segments. */
  attachJobSource(source: JobSource): void {
    this.jobSource = source;
  }

  /** Index of the segment holding the job's latest full record (stats-job `file`), 0 if unknown. */
  fileOf(jobId: number): number {
    return this.jobs.get(jobId)?.bodySeg.index ?? 0;
  }

  stats(): BinlogStats {
    const spareBytes = (this.spare?.capacity ?? 0) + this.spareCreationBytes;
    let diskBytes = spareBytes;
    for (const s of this.segments) diskBytes += s.diskBytes();
    return {
      oldestIndex: this.segments[0]?.index ?? this.current.index,
      currentIndex: this.current.index,
      recordsMigrated: this.recordsMigrated,
      recordsWritten: this.recordsWritten,
      maxSizeBytes: this.options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      diskBytes,
      currentBytes: this.current.capacity,
      spareBytes,
      liveBytes: this.liveBytes,
      liveJobs: this.jobs.size,
      segments: this.segments.length,
      fsyncs: this.writer.syncCount,
    };
  }

  /** Resolves when no write, fsync or unlink is in flight (tests measure the disk at rest). */
  async settled(): Promise<void> {
    for (;;) {
      await this.gc;
      await this.writer.idle();
      if (this.gc === undefined) return;
    }
  }

  /** Writes and fsyncs everything, closes the files and releases the directory lock. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.idleTimer);
    try {
      await this.gc;
      await this.writer.drain();
      await this.collectGarbage(true);
    } finally {
      this.writer.stopTimers();
      await this.spareCreation;
      if (this.spare !== undefined) discardSpare(this.ops, this.spare);
      this.spare = undefined;
      if (this.writer.failure === undefined) await this.current.finish(this.ops);
      await this.init.release();
    }
  }

  // ---- space and segments -----------------------------------------------------------------------

  /** Capacity of a new segment: all reservations plus -s bytes of new records. */
  private capacityFor(needBytes: number): number {
    return roundUpToBlock(FILE_HEADER_BYTES + START_RECORD_BYTES + needBytes + this.segmentCapacity);
  }

  /** Ensures the current segment can take `bytes` and still hold every reservation plus `extraReserve`. */
  private makeRoom(bytes: number, extraReserve: number): boolean {
    const need = bytes + this.reservedBytes + extraReserve;
    if (this.current.free() >= need) return true;
    let spare = this.spare;
    if (spare !== undefined && spare.capacity - FILE_HEADER_BYTES - START_RECORD_BYTES >= need) {
      this.spare = undefined;
    } else {
      try {
        spare = createSpareSync(this.ops, this.dir, this.capacityFor(need));
      } catch (err) {
        this.warnSpace(err as Error);
        return false;
      }
    }
    try {
      this.openSegment(spare);
    } catch (err) {
      discardSpare(this.ops, spare);
      this.warnSpace(err as Error);
      return false;
    }
    this.spaceWarned = false;
    return true;
  }

  private warnSpace(err: Error): void {
    if (this.spaceWarned) return;
    this.spaceWarned = true;
    this.log(
      `binlog: cannot create a new segment in ${this.dir} (${err.message}); puts answer OUT_OF_MEMORY`,
    );
  }

  /** Seals the current segment and makes `spare` the new current one, starting with a start record. */
  private openSegment(spare: SpareFile): void {
    const segment = activateSpare(this.ops, this.dir, spare, this.nextSegmentIndex);
    this.nextSegmentIndex++;
    const previous = this.segments.length > 0 ? this.current : undefined;
    this.segments.push(segment);
    this.current = segment;
    this.writer.track(segment);
    const lsn = this.nextLsn++;
    const { buf, off } = segment.allocate(START_RECORD_BYTES);
    encodeStart(buf, off, lsn, this.maxId, segment.index, 0);
    for (const s of this.segments) {
      if (s === segment) continue;
      s.sealed = true;
      if (s.successorStartLsn === Number.POSITIVE_INFINITY) s.successorStartLsn = lsn;
    }
    if (previous !== undefined && previous.refs.size === 0) previous.freedAtLsn = lsn;
    this.writer.appended(lsn);
  }

  private maybePrepareSpare(): void {
    if (this.spare !== undefined || this.spareCreation !== undefined || this.closing) return;
    if (this.current.used < this.current.capacity * SPARE_AT_FILL) return;
    const capacity = this.capacityFor(this.reservedBytes * 1.25);
    this.spareCreationBytes = capacity;
    this.spareCreation = createSpare(this.ops, this.dir, capacity)
      .then(
        (spare) => {
          if (this.closing) discardSpare(this.ops, spare);
          else this.spare = spare;
        },
        () => {
          // Disk full or failing: the synchronous attempt at rotation time reports it.
        },
      )
      .finally(() => {
        this.spareCreation = undefined;
        this.spareCreationBytes = 0;
      });
  }

  // ---- job index ----------------------------------------------------------------------------------

  private moveRefs(id: number, entry: JobEntry, seg: Segment, bodySeg: Segment, lsn: number): void {
    const oldSeg = entry.seg;
    const oldBodySeg = entry.bodySeg;
    entry.seg = seg;
    entry.bodySeg = bodySeg;
    seg.refs.add(id);
    bodySeg.refs.add(id);
    this.unpin(id, oldSeg, entry, lsn);
    if (oldBodySeg !== oldSeg) this.unpin(id, oldBodySeg, entry, lsn);
  }

  private unpin(id: number, s: Segment, entry: JobEntry | undefined, lsn: number): void {
    if (entry !== undefined && (entry.seg === s || entry.bodySeg === s)) return;
    if (s.refs.delete(id) && s.refs.size === 0) s.freedAtLsn = lsn;
  }

  private forget(id: number, entry: JobEntry, lsn: number): void {
    this.jobs.delete(id);
    this.unpin(id, entry.seg, undefined, lsn);
    this.unpin(id, entry.bodySeg, undefined, lsn);
    this.reservedBytes -= DELETE_RECORD_BYTES;
    this.liveBytes -= entry.fullBytes;
  }

  // ---- compaction -------------------------------------------------------------------------------

  /**
   * Bytes of the old segments that will still exist once the unpinned head is unlinked: from the
   * oldest pinned segment up to (not including) the current one.
   */
  private pinnedOldBytes(): number {
    let n = 0;
    let pinned = false;
    for (const s of this.segments) {
      if (s === this.current) break;
      pinned ||= s.refs.size > 0;
      if (pinned) n += s.used;
    }
    return n;
  }

  private overBound(): boolean {
    return this.pinnedOldBytes() > 2 * this.liveBytes;
  }

  /** Copies live jobs out of the oldest segments while the log is over its bound. */
  private compact(): void {
    const budget = Math.max(2 * this.appendedSinceBatch, MIN_COMPACT_BYTES);
    this.appendedSinceBatch = 0;
    if (this.jobSource === undefined || this.closing || this.writer.failure !== undefined) return;
    let spent = 0;
    for (const s of this.segments) {
      if (s === this.current || spent >= budget || !this.overBound()) return;
      for (const id of s.refs) {
        const bytes = this.migrate(id);
        if (bytes < 0) return;
        spent += bytes;
        if (spent >= budget) return;
      }
    }
  }

  /** Rewrites one live job as a full record in the current segment. -1 when there is no room. */
  private migrate(id: number): number {
    const entry = this.jobs.get(id)!;
    const job = this.jobSource!(id);
    if (job === undefined) {
      // The engine no longer has it although it was never logged as deleted: log it now.
      this.logDelete(id);
      return DELETE_RECORD_BYTES;
    }
    const bytes = putRecordBytes(job.record.tube, job.body.length);
    if (!this.makeRoom(bytes, 0)) return -1;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodePut(buf, off, lsn, job.record, job.body, entry.orderLsn, PUT_MIGRATED);
    this.moveRefs(id, entry, this.current, this.current, lsn);
    this.liveBytes += bytes - entry.fullBytes;
    entry.fullBytes = bytes;
    this.recordsWritten++;
    this.recordsMigrated++;
    this.writer.appended(lsn);
    this.maybePrepareSpare();
    return bytes;
  }

  private armIdleCompaction(): void {
    if (this.idleTimer !== undefined || this.closing || this.jobSource === undefined || !this.overBound())
      return;
    if (!this.segments.some((s) => s !== this.current && s.refs.size > 0)) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.writer.schedule();
    }, IDLE_COMPACT_MS);
    this.idleTimer.unref();
  }

  private canUnlinkOldest(): boolean {
    const s = this.segments[0];
    if (s === undefined || s === this.current || s.refs.size > 0 || !s.closed) return false;
    return this.writer.safeLsn() >= Math.max(s.freedAtLsn, s.successorStartLsn);
  }

  /**
   * Unlinks unpinned segments from the head. Between two unlinks the directory is fsynced, so a power
   * loss can only bring back a prefix of them: the files left stay a suffix of the log.
   */
  private async collectGarbage(closing = false): Promise<void> {
    try {
      while ((closing || !this.closing) && this.canUnlinkOldest()) {
        const s = this.segments.shift()!;
        try {
          await this.ops.unlink(s.path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
            this.segments.unshift(s);
            throw err;
          }
        }
        if (this.mode !== SyncMode.Never && this.canUnlinkOldest()) await this.ops.fsyncDir(this.dir);
      }
    } catch (err) {
      this.log(`binlog: cannot remove an old segment in ${this.dir} (${(err as Error).message})`);
    }
  }
}
