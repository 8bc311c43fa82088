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
 * Compaction: live jobs pin segments (job-index.ts); unpinned segments are unlinked oldest first
 * (retention.ts). While the pinned old segments hold more than twice the live data, live jobs of the
 * oldest ones are rewritten into the current segment from the engine's current state (JobSource), at
 * least twice as many bytes per batch as the commands wrote, so cleaning outpaces the writes.
 */
import type { ImportKey, JobRecord, Journal } from '../engine/journal';
import {
  type BinlogInit,
  type BinlogOptions,
  type BinlogStats,
  DEFAULT_FSYNC_EVERY_MS,
  DEFAULT_SEGMENT_BYTES,
  type JobSource,
} from './contract';
import type { FileOps } from './file-ops';
import {
  DELETE_RECORD_BYTES,
  encodeDelete,
  encodeIds,
  encodeImport,
  encodeMove,
  encodePut,
  encodeStart,
  encodeUpdate,
  FILE_HEADER_BYTES,
  IDS_EXACT,
  IDS_RECORD_BYTES,
  importRecordBytes,
  moveRecordBytes,
  PUT_MIGRATED,
  putRecordBytes,
  START_NEW_TERM,
  START_RECORD_BYTES,
  UPDATE_RECORD_BYTES,
} from './format';
import { IdCeiling } from './id-ceiling';
import { ImportKeyIndex } from './import-keys';
import type { JobIndex } from './job-index';
import { LogWriter, SyncMode, settle } from './log-writer';
import { canUnlinkOldest, pinnedOldBytes, unlinkOldSegments } from './retention';
import {
  activateSpare,
  createSpare,
  createSpareSync,
  discardSpare,
  extendSpareSync,
  type PendingWrite,
  reservedAtRotation,
  roundUpToBlock,
  type Segment,
  SPARE_AT_FILL,
  type SpareFile,
} from './segment';

/** Smallest segment we create, whatever -s says: header + start record + room for a few records. */
const MIN_SEGMENT_BYTES = 4096;
/** Compaction copies at least this much per batch while the log is over its bound (also when idle). */
const MIN_COMPACT_BYTES = 256 * 1024;
const IDLE_COMPACT_MS = 10;
/** After a failed preallocation (disk full), background work waits this long before trying again. */
const SPACE_RETRY_MS = 1000;

export class Binlog implements Journal {
  private fsyncObserver: { onFsync(seconds: number): void } | undefined;
  readonly mode: SyncMode;
  private readonly writer: LogWriter;
  private readonly segmentCapacity: number;
  private readonly segments: Segment[];
  private current!: Segment;
  private readonly index: JobIndex;
  private readonly importKeys: ImportKeyIndex;
  private nextLsn: number;
  /** Highest job id logged (or the replay's floor). */
  private maxId: number;
  private readonly ids: IdCeiling;
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
  /** Failed writes, fsyncs and segment creations since start (stalkd_binlog_write_errors_total). */
  private writeErrors = 0;
  /** Segments made on the event loop because no preallocated one fitted (BinlogStats). */
  private blockingPreallocations = 0;
  /** Background preallocation and compaction wait until then after running out of space. */
  private spaceRetryAtMs = 0;
  private recordsWritten = 0;
  private recordsMigrated: number;
  private readonly log: (line: string) => void;
  /** The term of the primary writing this log (replication; 0 without). */
  readonly term: number;
  private readonly writtenListeners = new Set<(writes: readonly PendingWrite[], lsn: number) => void>();

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
    this.index = init.jobs;
    this.importKeys = init.importKeys ?? new ImportKeyIndex();
    this.ids = new IdCeiling(
      {
        appendCeiling: (ceiling) => this.appendIds(ceiling, 0),
        safeLsn: () => this.writer.safeLsn(),
        syncNow: () => this.writer.syncNow(),
        nowMs: () => Date.now(),
      },
      this.maxId,
    );
    // Replay never appends to old files: every start opens a new segment (its start record carries
    // the id floor). A failure here is a start-up error and propagates.
    const lastTerm = init.segments[init.segments.length - 1]?.term ?? 0;
    this.term = Math.max(init.term ?? lastTerm, lastTerm);
    const spare = createSpareSync(ops, dir, this.capacityFor(this.index.reservedBytes()));
    this.openSegment(spare, this.term > lastTerm ? START_NEW_TERM : 0);
    // The first ceiling is made safe now, so the first put does not wait for it.
    this.ids.reserve(this.maxId + 1);
  }

  private writerHooks() {
    return {
      beforeBatch: () => this.compact(),
      afterStep: () => {
        // Started only when the oldest segment may go: an async pass that unlinks nothing cost every
        // loop turn that wrote records a promise chain and its microtasks (issue 18).
        if (this.gc === undefined && canUnlinkOldest(this.segments, this.current, this.writer.safeLsn())) {
          this.gc = this.collectGarbage(() => this.closing).finally(() => {
            this.gc = undefined;
          });
        }
        this.armIdleCompaction();
      },
      onFsync: (seconds: number) => this.fsyncObserver?.onFsync(seconds),
      onWritten: (writes: readonly PendingWrite[], lsn: number) => {
        for (const listener of this.writtenListeners) listener(writes, lsn);
      },
      onFailure: (err: Error) => {
        this.writeErrors++;
        this.log(
          `binlog: write to ${this.dir} failed (${err.message}); retrying, puts answer OUT_OF_MEMORY meanwhile`,
        );
      },
    };
  }

  // ---- Journal --------------------------------------------------------------------------------

  /**
   * Full record + a reserved delete; with `origin` (x-import) the import key rides in the same
   * record, so the job and its key are never logged apart. null: no space (or the disk is failing)
   * → OUT_OF_MEMORY.
   */
  logPut(job: JobRecord, body: Buffer, origin?: ImportKey): number | null {
    if (this.closing || this.writer.failure !== undefined) return null;
    const extra = origin && { origin };
    const bytes = putRecordBytes(job.tube, body.length, extra);
    if (!this.makeRoom(bytes, DELETE_RECORD_BYTES)) return null;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodePut(buf, off, lsn, job, body, 0, 0, extra);
    this.index.fullRecord(job.id, this.current, bytes, lsn, lsn);
    if (origin) this.importKeys.noted(origin, this.current, lsn);
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
    this.index.stateRecord(job.id, this.current, lsn);
    return this.appended(lsn, UPDATE_RECORD_BYTES);
  }

  /** A Move record (x-move-out): the job's state record from now on. null: no space. */
  logMoveOut(job: JobRecord, dest: string): number | null {
    if (this.closing || this.writer.failure !== undefined) return null;
    const bytes = moveRecordBytes(dest);
    if (!this.makeRoom(bytes, 0)) return null;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodeMove(buf, off, lsn, job, dest);
    this.index.stateRecord(job.id, this.current, lsn);
    return this.appended(lsn, bytes);
  }

  /** Ids up to the returned ceiling (≥ id) may be handed out; null: it cannot be logged (see id-ceiling.ts). */
  reserveIds(id: number): number | null {
    if (this.closing) return null;
    return this.ids.reserve(id);
  }

  /** Hands every appended record to the OS now: the server calls it before any reply leaves. */
  flush(): void {
    if (this.writer.hasUnwritten()) this.writer.writeOut();
  }

  /** Grants of an id ceiling that waited for a synchronous fsync (a burst outran the one logged ahead). */
  get forcedIdSyncs(): number {
    return this.ids.forcedSyncs;
  }

  private appendIds(ceiling: number, flags: number): number | null {
    if (this.writer.failure !== undefined || !this.makeRoom(IDS_RECORD_BYTES, 0)) return null;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(IDS_RECORD_BYTES);
    encodeIds(buf, off, lsn, ceiling, flags);
    this.writer.appended(lsn);
    return lsn;
  }

  /** Uses the room reserved by the put: never fails. */
  logDelete(jobId: number): number {
    if (!this.index.has(jobId) || this.closing) return this.nextLsn - 1;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(DELETE_RECORD_BYTES);
    encodeDelete(buf, off, lsn, jobId);
    this.index.remove(jobId, lsn);
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
  /** Told the duration of every successful segment fsync (metrics). */
  setFsyncObserver(observer: { onFsync(seconds: number): void } | undefined): void {
    this.fsyncObserver = observer;
  }

  attachJobSource(source: JobSource): void {
    this.jobSource = source;
  }

  /** Index of the segment holding the job's latest full record (stats-job `file`), 0 if unknown. */
  fileOf(jobId: number): number {
    return this.index.bodySegmentOf(jobId)?.index ?? 0;
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
      liveBytes: this.index.liveBytes,
      liveJobs: this.index.size,
      segments: this.segments.length,
      fsyncs: this.writer.syncCount,
      writeErrors: this.writeErrors,
      blockingPreallocations: this.blockingPreallocations,
      // A failed write is being retried, or the last segment could not be created (disk full).
      writable: this.writer.failure === undefined && !this.spaceWarned,
    };
  }

  /** Resolves when no write, fsync, unlink or preallocation is in flight (tests measure the disk at rest). */
  settled(): Promise<void> {
    return settle(this.writer, () => [this.gc, this.spareCreation]);
  }

  /** Writes and fsyncs everything, closes the files and releases the directory lock. */
  async close(): Promise<void> {
    if (this.closing) return;
    clearTimeout(this.idleTimer);
    // The exact highest id handed out: the next start goes on right after it, not above the last
    // ceiling. Puts are refused from here on (closing), so no id can pass it.
    if (this.writer.failure === undefined) this.appendIds(this.maxId, IDS_EXACT);
    this.closing = true;
    try {
      await this.gc;
      await this.writer.drain();
      await this.collectGarbage(() => false);
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
    const need = bytes + this.index.reservedBytes() + extraReserve;
    if (this.current.free() >= need) return true;
    const ready = this.spare;
    this.spare = undefined;
    let spare: SpareFile;
    try {
      if (ready !== undefined && ready.capacity - FILE_HEADER_BYTES - START_RECORD_BYTES >= need)
        spare = ready;
      else {
        // Made here, on the event loop: whole, or the prepared one grown by what it lacks.
        this.blockingPreallocations++;
        spare =
          ready === undefined
            ? createSpareSync(this.ops, this.dir, this.capacityFor(need))
            : extendSpareSync(this.ops, ready, this.capacityFor(need));
      }
    } catch (err) {
      if (ready !== undefined) discardSpare(this.ops, ready);
      this.warnSpace(err as Error);
      return false;
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
    this.writeErrors++;
    if (this.spaceWarned) return;
    this.spaceWarned = true;
    this.log(
      `binlog: cannot create a new segment in ${this.dir} (${err.message}); puts answer OUT_OF_MEMORY`,
    );
  }

  // ---- replication (src/replication/primary-log.ts) ------------------------------------------------

  /** Segments on disk, oldest first; the last is the one being written. */
  get segmentList(): readonly Segment[] {
    return this.segments;
  }

  /**
   * LSN of the record that set job `id`'s current state — at or after its put — or 0 when the job
   * is not logged. Replication holds a reply naming the job until this LSN is confirmed.
   */
  stateLsnOf(id: number): number {
    return this.index.orderLsnOf(id);
  }

  /** LSN of the last record appended. */
  lastLsn(): number {
    return this.nextLsn - 1;
  }

  /** Told every write handed to the OS (after it is in the file). Returns an unsubscribe function. */
  onWritten(listener: (writes: readonly PendingWrite[], lsn: number) => void): () => void {
    this.writtenListeners.add(listener);
    return () => this.writtenListeners.delete(listener);
  }

  /** Seals the current segment and makes `spare` the new current one, starting with a start record. */
  private openSegment(spare: SpareFile, flags = 0): void {
    const segment = activateSpare(this.ops, this.dir, spare, this.nextSegmentIndex);
    this.nextSegmentIndex++;
    const previous = this.segments.length > 0 ? this.current : undefined;
    this.segments.push(segment);
    this.current = segment;
    this.writer.track(segment);
    const lsn = this.nextLsn++;
    const { buf, off } = segment.allocate(START_RECORD_BYTES);
    // The id floor: every id logged and every ceiling, so deleting older segments forgets neither.
    encodeStart(buf, off, lsn, Math.max(this.maxId, this.ids.highest()), segment.index, flags, this.term);
    segment.firstLsn = lsn;
    segment.term = this.term;
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
    const reserved = this.index.reservedBytes();
    const room = this.current.free() - reserved;
    if (room > this.segmentCapacity * (1 - SPARE_AT_FILL) || Date.now() < this.spaceRetryAtMs) return;
    // What is reserved at the rotation plus -s: only a record larger than -s needs more (made then).
    const capacity = this.capacityFor(reservedAtRotation(reserved, room));
    this.spareCreationBytes = capacity;
    this.spareCreation = createSpare(this.ops, this.dir, capacity)
      .then(
        (spare) => {
          if (this.closing) discardSpare(this.ops, spare);
          else this.spare = spare;
        },
        () => {
          // Disk full or failing: the synchronous attempt at rotation time reports it.
          this.spaceRetryAtMs = Date.now() + SPACE_RETRY_MS;
        },
      )
      .finally(() => {
        this.spareCreation = undefined;
        this.spareCreationBytes = 0;
      });
  }

  // ---- compaction -------------------------------------------------------------------------------

  private overBound(): boolean {
    return (
      pinnedOldBytes(this.segments, this.current) > 2 * (this.index.liveBytes + this.importKeys.liveBytes)
    );
  }

  /** Copies live jobs out of the oldest segments while the log is over its bound. */
  private compact(): void {
    const budget = Math.max(2 * this.appendedSinceBatch, MIN_COMPACT_BYTES);
    this.appendedSinceBatch = 0;
    if (this.jobSource === undefined || this.closing || this.writer.failure !== undefined) return;
    if (Date.now() < this.spaceRetryAtMs) return;
    this.importKeys.sweep(Date.now(), this.nextLsn - 1);
    let spent = 0;
    for (const s of this.segments) {
      if (s === this.current || spent >= budget || !this.overBound()) return;
      const pins = (ref: number): boolean =>
        ref < 0 ? this.importKeys.pins(ref, s) : this.index.pins(ref, s);
      s.refs.walk(pins, (ref) => {
        const bytes = ref < 0 ? this.copyImportKey(ref) : this.migrate(ref);
        if (bytes < 0) {
          this.spaceRetryAtMs = Date.now() + SPACE_RETRY_MS;
          spent = Number.POSITIVE_INFINITY;
          return false;
        }
        spent += bytes;
        return spent < budget;
      });
    }
  }

  /** Rewrites one live job as a full record in the current segment. -1 when there is no room. */
  private migrate(id: number): number {
    const orderLsn = this.index.orderLsnOf(id);
    const job = this.jobSource!(id);
    if (job === undefined) {
      // The engine no longer has it although it was never logged as deleted: log it now.
      this.logDelete(id);
      return DELETE_RECORD_BYTES;
    }
    // A moving job's copy says where it moves (one record: no moment where it would look unmoved).
    const extra = job.movingTo === undefined ? undefined : { movingTo: job.movingTo };
    const bytes = putRecordBytes(job.record.tube, job.body.length, extra);
    if (!this.makeRoom(bytes, 0)) return -1;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodePut(buf, off, lsn, job.record, job.body, orderLsn, PUT_MIGRATED, extra);
    this.index.fullRecord(id, this.current, bytes, orderLsn, lsn);
    this.recordsWritten++;
    this.recordsMigrated++;
    this.writer.appended(lsn);
    this.maybePrepareSpare();
    return bytes;
  }

  /** Rewrites an import key still in its grace as an Import record (else drops it). -1: no room. */
  private copyImportKey(ref: number): number {
    const entry = this.importKeys.byRefOf(ref);
    if (entry === undefined || !this.importKeys.keepOrDrop(entry, Date.now(), this.nextLsn - 1)) return 0;
    const bytes = importRecordBytes(entry.key);
    if (!this.makeRoom(bytes, 0)) return -1;
    const lsn = this.nextLsn++;
    const { buf, off } = this.current.allocate(bytes);
    encodeImport(buf, off, lsn, entry.key);
    this.importKeys.noted(entry.key, this.current, lsn);
    this.recordsWritten++;
    this.recordsMigrated++;
    this.writer.appended(lsn);
    this.maybePrepareSpare();
    return bytes;
  }

  private armIdleCompaction(): void {
    if (this.idleTimer !== undefined || this.closing || this.jobSource === undefined) return;
    if (Date.now() < this.spaceRetryAtMs || !this.overBound()) return;
    if (!this.segments.some((s) => s !== this.current && s.refs.size > 0)) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.writer.schedule();
    }, IDLE_COMPACT_MS);
    this.idleTimer.unref();
  }

  /** Unlinks the unpinned head of the log (see retention.ts); failures are reported, never thrown. */
  private async collectGarbage(stop: () => boolean): Promise<void> {
    try {
      await unlinkOldSegments(
        this.ops,
        this.dir,
        this.segments,
        () => this.current,
        () => this.writer.safeLsn(),
        this.mode !== SyncMode.Never,
        stop,
      );
    } catch (err) {
      this.log(`binlog: cannot remove an old segment in ${this.dir} (${(err as Error).message})`);
    }
  }
}
