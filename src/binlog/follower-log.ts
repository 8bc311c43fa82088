/**
 * A standby's binlog (docs/replication.md, "The standby"): the primary's segments, byte for byte.
 * It writes no record of its own — no start record, no compaction, no id ceiling — it continues its
 * last segment after a restart instead of opening a new one, and it opens a segment only when the
 * primary did (same index, capacity and file header). Durability is its own: the same LogWriter as
 * a primary (group commit, -f/-F). Retention is the primary's rule applied to the same records:
 * the job index is kept exactly as the Binlog keeps it, so at a promotion the whole state is handed
 * to a Binlog (`handOver`), which opens the new term's segment and goes on.
 */
import type { BinlogInit, BinlogOptions, BinlogStats } from './contract';
import { DEFAULT_FSYNC_EVERY_MS, DEFAULT_SEGMENT_BYTES } from './contract';
import type { FileOps } from './file-ops';
import {
  decodeRecord,
  FILE_HEADER_BYTES,
  findNextRecord,
  IDS_EXACT,
  type LogRecord,
  RecordType,
  START_RECORD_BYTES,
} from './format';
import { ImportKeyIndex } from './import-keys';
import type { JobIndex } from './job-index';
import { LogWriter, SyncMode, settle } from './log-writer';
import { unlinkOldSegments } from './retention';
import {
  activateSpare,
  createSpare,
  createSpareSync,
  discardSpare,
  extendSpareSync,
  reservedAtRotation,
  roundUpToBlock,
  type Segment,
  SPARE_AT_FILL,
  type SpareFile,
} from './segment';

const ZEROS = Buffer.alloc(1024 * 1024);

export interface FollowerInit {
  /** Segments from replay (closed), oldest first. */
  segments: Segment[];
  jobs: JobIndex;
  maxId: number;
  lastLsn: number;
  release: () => Promise<void>;
  importKeys?: ImportKeyIndex;
}

export class FollowerLog {
  readonly mode: SyncMode;
  private readonly writer: LogWriter;
  private readonly segments: Segment[];
  private current: Segment | undefined;
  private readonly index: JobIndex;
  private readonly importKeys: ImportKeyIndex;
  private maxId: number;
  private lastLsn: number;
  private readonly growBytes: number;
  private readonly maxSizeBytes: number;
  private gc: Promise<void> | undefined;
  private closing = false;
  recordsWritten = 0;
  /** Failed writes, fsyncs and segment creations so far (stalkd_binlog_write_errors_total). */
  private writeErrors = 0;
  /** The next segment's file, zero-filled in the background (its size is a guess: see startSegment). */
  private spare: SpareFile | undefined;
  private spareCreation: Promise<void> | undefined;
  /** Segments made on the event loop because no preallocated one was ready (BinlogStats). */
  private blockingPreallocations = 0;
  private fsyncObserver: { onFsync(seconds: number): void } | undefined;
  private readonly log: (line: string) => void;

  constructor(
    private readonly ops: FileOps,
    private readonly dir: string,
    options: BinlogOptions,
    private readonly init: FollowerInit,
  ) {
    const fsyncEveryMs = options.fsyncEveryMs === undefined ? DEFAULT_FSYNC_EVERY_MS : options.fsyncEveryMs;
    this.mode =
      fsyncEveryMs === null ? SyncMode.Never : fsyncEveryMs === 0 ? SyncMode.Strict : SyncMode.Interval;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.maxSizeBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.growBytes = roundUpToBlock(this.maxSizeBytes);
    this.segments = init.segments;
    this.index = init.jobs;
    this.importKeys = init.importKeys ?? new ImportKeyIndex();
    this.maxId = init.maxId;
    this.lastLsn = init.lastLsn;
    this.writer = new LogWriter(
      ops,
      dir,
      this.mode,
      fsyncEveryMs ?? 0,
      {
        beforeBatch: () => {},
        afterStep: () => {
          // As the primary's compaction: keys past their grace pin nothing (no record says so).
          this.importKeys.sweep(Date.now(), this.lastLsn);
          this.collectGarbage();
        },
        // A standby fsyncs its own log: the same figures as a primary's (docs/metrics.md).
        onFsync: (seconds) => this.fsyncObserver?.onFsync(seconds),
        onFailure: (err) => {
          this.writeErrors++;
          this.log(`binlog: write to ${dir} failed (${err.message}); retrying`);
        },
      },
      init.lastLsn,
    );
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined) this.reopen(last);
  }

  /** Called with the wall time of each fsync of this log (the node's fsync histogram). */
  setFsyncObserver(observer: { onFsync(seconds: number): void } | undefined): void {
    this.fsyncObserver = observer;
  }

  /** Where the log ends and its last record. */
  position(): { index: number; offset: number; lastTerm: number; lastLsn: number } {
    const c = this.current;
    return { index: c?.index ?? 0, offset: c?.used ?? 0, lastTerm: c?.term ?? 0, lastLsn: this.lastLsn };
  }

  durableSeq(): number {
    return this.writer.durableLsn();
  }

  onDurable(listener: (seq: number) => void): () => void {
    return this.writer.onDurable(listener);
  }

  /** Hands appended bytes to the OS now (then the -f mode's fsync follows). */
  flush(): void {
    if (this.writer.hasUnwritten()) this.writer.writeOut();
  }

  /** (term, first LSN) of each segment, oldest first: the log's term history. */
  segmentTerms(): { term: number; firstLsn: number }[] {
    return this.segments.filter((s) => s.firstLsn > 0).map((s) => ({ term: s.term, firstLsn: s.firstLsn }));
  }

  /** The `binlog-*` figures of a standby's log (stats, metrics), as a primary's Binlog gives them. */
  stats(): BinlogStats {
    let diskBytes = 0;
    for (const s of this.segments) diskBytes += s.diskBytes();
    const current = this.current;
    return {
      oldestIndex: this.segments[0]?.index ?? 0,
      currentIndex: current?.index ?? 0,
      recordsMigrated: 0,
      recordsWritten: this.recordsWritten,
      maxSizeBytes: this.maxSizeBytes,
      diskBytes,
      currentBytes: current?.capacity ?? 0,
      spareBytes: 0,
      liveBytes: this.index.liveBytes,
      liveJobs: this.index.size,
      segments: this.segments.length,
      fsyncs: this.writer.syncCount,
      writeErrors: this.writeErrors,
      blockingPreallocations: this.blockingPreallocations,
      writable: this.writer.failure === undefined,
    };
  }

  /** Resolves when no write, fsync, unlink or preallocation is in flight (as Binlog.settled). */
  settled(): Promise<void> {
    return settle(this.writer, () => [this.gc, this.spareCreation]);
  }

  /** Segment files on disk, oldest first (stats and tests). */
  segmentIndices(): number[] {
    return this.segments.map((s) => s.index);
  }

  liveJobs(): number {
    return this.index.size;
  }

  /**
   * The primary opened segment `index`: the same here, with its capacity and file header. The
   * spare made in the background is cut or extended to that capacity (the primary's rule for it
   * is followed, so the difference is small); without one the whole file is made now.
   */
  startSegment(index: number, capacity: number, header: Buffer): void {
    if (this.current !== undefined) this.current.sealed = true;
    const bytes = Math.max(roundUpToBlock(capacity), FILE_HEADER_BYTES);
    const spare = this.takeSpare(bytes);
    this.ops.writeSync(spare.fd, header, 0);
    const segment = activateSpare(this.ops, this.dir, spare, index);
    this.segments.push(segment);
    this.current = segment;
    this.writer.track(segment);
  }

  /**
   * The primary's bytes at (index, offset) of the current segment (the caller checked they follow
   * on): written as they are, every intact record noted and passed to onRecord. Returns warnings for
   * damaged regions (skipped when applying, as replay skips them, but kept in the file).
   */
  append(
    index: number,
    offset: number,
    bytes: Buffer,
    onRecord: (record: LogRecord, buf: Buffer) => void,
  ): string[] {
    const segment = this.current;
    if (segment === undefined || segment.index !== index || segment.used !== offset)
      throw new Error(`follower log: bytes for ${index}:${offset} do not continue the log`);
    if (bytes.length === 0) return [];
    this.ensureRoom(segment, bytes.length);
    const { buf, off } = segment.allocate(bytes.length);
    bytes.copy(buf, off);
    const warnings: string[] = [];
    const before = this.lastLsn;
    for (let p = 0; p < bytes.length; ) {
      const r = decodeRecord(bytes, p);
      if (r.ok) {
        this.note(r.record, segment, offset + p, r.bytes);
        onRecord(r.record, bytes);
        p += r.bytes;
        continue;
      }
      const next = findNextRecord(bytes, p + 1);
      const end = next < 0 ? bytes.length : next;
      warnings.push(
        `CORRUPT region in ${segment.path} at offset ${offset + p} (${r.reason}) copied from the primary: ` +
          `${end - p} bytes skipped, as the primary's replay skipped them`,
      );
      p = end;
    }
    if (this.lastLsn > before) this.writer.appended(this.lastLsn);
    this.maybePrepareSpare(segment);
    return warnings;
  }

  /**
   * The primary preallocates its next segment with room for every live job's delete record plus
   * -s; the same guess here, once half of this segment's room for new records is used.
   */
  private maybePrepareSpare(segment: Segment): void {
    if (this.spare !== undefined || this.spareCreation !== undefined || this.closing) return;
    const reserved = this.index.reservedBytes();
    const room = segment.free() - reserved;
    if (room > this.maxSizeBytes * (1 - SPARE_AT_FILL)) return;
    const need = reservedAtRotation(reserved, room);
    const capacity = roundUpToBlock(FILE_HEADER_BYTES + START_RECORD_BYTES + need + this.maxSizeBytes);
    this.spareCreation = createSpare(this.ops, this.dir, capacity)
      .then(
        (spare) => {
          if (this.closing) discardSpare(this.ops, spare);
          else this.spare = spare;
        },
        // Disk full or failing: startSegment makes the file itself and reports what fails.
        () => {},
      )
      .finally(() => {
        this.spareCreation = undefined;
      });
  }

  /** A zero-filled file of exactly `bytes` for the next segment: the spare, fitted, or a new one. */
  private takeSpare(bytes: number): SpareFile {
    const spare = this.spare;
    this.spare = undefined;
    if (spare === undefined) {
      this.blockingPreallocations++;
      return createSpareSync(this.ops, this.dir, bytes);
    }
    try {
      if (spare.capacity >= bytes) {
        if (spare.capacity > bytes) this.ops.ftruncateSync(spare.fd, bytes);
        return { ...spare, capacity: bytes };
      }
      this.blockingPreallocations++;
      return extendSpareSync(this.ops, spare, bytes);
    } catch (err) {
      discardSpare(this.ops, spare);
      throw err;
    }
  }

  /** Replay's bookkeeping for one record, so retention and a later promotion see what a primary would. */
  private note(rec: LogRecord, segment: Segment, offset: number, bytes: number): void {
    this.lastLsn = rec.lsn;
    this.recordsWritten++;
    switch (rec.type) {
      case RecordType.Start:
        if (offset === FILE_HEADER_BYTES) {
          segment.firstLsn = rec.lsn;
          segment.term = rec.term;
        }
        if (rec.maxId > this.maxId) this.maxId = rec.maxId;
        // As Binlog.openSegment: the start record carries the id floor older files may have held.
        for (const s of this.segments) {
          if (s === segment) continue;
          s.sealed = true;
          if (s.successorStartLsn === Number.POSITIVE_INFINITY) s.successorStartLsn = rec.lsn;
        }
        {
          const previous = this.segments[this.segments.indexOf(segment) - 1];
          if (previous !== undefined && previous.refs.size === 0) previous.freedAtLsn = rec.lsn;
        }
        return;
      case RecordType.Put:
        this.index.fullRecord(rec.job.id, segment, bytes, rec.orderLsn > 0 ? rec.orderLsn : rec.lsn, rec.lsn);
        if (rec.origin) this.importKeys.noted(rec.origin, segment, rec.lsn);
        if (rec.job.id > this.maxId) this.maxId = rec.job.id;
        return;
      case RecordType.Update:
      case RecordType.Move:
        this.index.stateRecord(rec.job.id, segment, rec.lsn);
        return;
      case RecordType.Import:
        this.importKeys.noted(rec.key, segment, rec.lsn);
        return;
      case RecordType.Delete:
        this.index.remove(rec.id, rec.lsn);
        if (rec.id > this.maxId) this.maxId = rec.id;
        return;
      case RecordType.Ids:
        // As replay: a ceiling raises the floor; a clean stop's exact mark sets it.
        if ((rec.flags & IDS_EXACT) !== 0) this.maxId = rec.ceiling;
        else if (rec.ceiling > this.maxId) this.maxId = rec.ceiling;
        return;
    }
  }

  /** A segment's preallocation ran out (the primary's was larger): extend the file with zeros. */
  private ensureRoom(segment: Segment, bytes: number): void {
    if (segment.free() >= bytes) return;
    const target = roundUpToBlock(segment.used + Math.max(bytes, this.growBytes));
    for (let at = segment.capacity; at < target; at += ZEROS.length)
      this.ops.writeSync(segment.fd, ZEROS.subarray(0, Math.min(ZEROS.length, target - at)), at);
    segment.capacity = target;
  }

  /** The last segment from replay takes appends again: reopened, room added after its data. */
  private reopen(segment: Segment): void {
    segment.reopen(this.ops.openSync(segment.path, 'r+'));
    this.current = segment;
    this.ensureRoom(segment, 1);
    this.writer.track(segment);
  }

  private collectGarbage(): void {
    this.gc ??= unlinkOldSegments(
      this.ops,
      this.dir,
      this.segments,
      () => this.current as Segment,
      () => this.writer.safeLsn(),
      this.mode !== SyncMode.Never,
      () => this.closing,
    )
      .catch((err: Error) => this.log(`binlog: cannot remove an old segment in ${this.dir} (${err.message})`))
      .finally(() => {
        this.gc = undefined;
      });
  }

  private async quiesce(): Promise<void> {
    this.closing = true;
    await this.gc;
    await this.spareCreation;
    if (this.spare !== undefined) discardSpare(this.ops, this.spare);
    this.spare = undefined;
    await this.writer.drain();
    this.writer.stopTimers();
    await this.current?.finish(this.ops);
  }

  /**
   * Promotion: everything written and synced, the current segment closed, and the state a Binlog
   * starts from. The directory lock passes to the Binlog with it.
   */
  async handOver(): Promise<BinlogInit> {
    await this.quiesce();
    return {
      segments: this.segments,
      jobs: this.index,
      maxId: this.maxId,
      lastLsn: this.lastLsn,
      nextSegmentIndex: (this.current?.index ?? 0) + 1,
      recordsMigrated: 0,
      release: this.init.release,
      importKeys: this.importKeys,
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    try {
      await this.quiesce();
    } finally {
      await this.init.release();
    }
  }
}
