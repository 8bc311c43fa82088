/**
 * Start-up replay: reads every segment in index order and rebuilds the live jobs.
 *
 * Per record: Put creates or overwrites a job (compaction copies are Puts too), Update replaces its
 * metadata, Delete removes it; an Update or Delete for an unknown job is ignored (its Put was in a
 * segment already compacted away). Reserved jobs come back ready; delayed jobs keep their absolute
 * deadline; jobs are returned in the order of the record that set their state, so buried jobs keep
 * their FIFO order. The next id is above every id any client could have seen: above every id logged
 * and every id ceiling (Ids records; Start records carry the floor across deleted segments), or
 * right after the exact mark a clean stop leaves — so ids are never reused.
 *
 * Damage never stops the replay and never loads garbage (every record is checksummed and checked):
 *   - a bad record followed by nothing decodable is a torn tail: the file is truncated there and a
 *     warning says how many bytes were dropped;
 *   - a bad record followed by a good one is corruption: a loud warning names file and offset, the
 *     bytes up to the next good record are skipped.
 */
import * as path from 'node:path';
import { type JobRecord, JobState } from '../engine/journal';
import type { FileOps } from './file-ops';
import {
  checkFileHeader,
  decodeRecord,
  FILE_HEADER_BYTES,
  findNextRecord,
  IDS_EXACT,
  isMadePut,
  isZero,
  type LogRecord,
  RecordType,
  START_IMPORTED,
  START_NEW_TERM,
} from './format';
import { ImportKeyIndex } from './import-keys';
import type { JobEntry } from './job-index';
import { isSpareFileName, parseSegmentFileName, Segment, segmentFileName } from './segment';
import { TermTally } from './term-tally';

export interface ReplayedJob {
  record: JobRecord;
  /** A view into the segment's read buffer: copy it if you keep it (the engine does). */
  body: Buffer;
  /** Being moved to this node (engine/moves.ts). */
  movingTo?: string | undefined;
}

const NO_FILE = Buffer.alloc(0);

/**
 * A live job and where its records are. One object per job, the body only as offsets into the
 * segment's read buffer (the view is made when asked for), and the same object then serves as the
 * Binlog's index entry: replaying millions of jobs stays cheap. `detach()` (done by restoreInto)
 * lets the read buffers go once the engine has its copies.
 */
export class LiveJob implements ReplayedJob, JobEntry {
  movingTo: string | undefined;

  constructor(
    public record: JobRecord,
    private file: Buffer,
    private bodyAt: number,
    private bodyBytes: number,
    public seg: Segment,
    public bodySeg: Segment,
    public fullBytes: number,
    public orderLsn: number,
  ) {}

  get body(): Buffer {
    return this.file.subarray(this.bodyAt, this.bodyAt + this.bodyBytes);
  }

  detach(): void {
    this.file = NO_FILE;
    this.bodyAt = 0;
    this.bodyBytes = 0;
  }
}

export interface ReplayOutcome {
  /** Live jobs in restore order (state-setting record order: buried FIFO kept). */
  jobs: LiveJob[];
  /** The same jobs by id (becomes the Binlog's index). */
  live: Map<number, LiveJob>;
  /** Max id ever logged + 1. */
  nextId: number;
  warnings: string[];
  /** For the Binlog: the surviving segments (each job says where its records are). */
  segments: Segment[];
  maxId: number;
  lastLsn: number;
  nextSegmentIndex: number;
  /** The oldest segment starts with an import from beanstalkd. */
  oldestIsImport: boolean;
  /** Import keys (engine/moves.ts) and the segments they pin; some may be past their grace. */
  importKeys: ImportKeyIndex;
  /** total-jobs and cmd-delete since the term began, as the records on disk tell (a standby's). */
  tally: TermTally;
  /**
   * The last LSN before the first gap in the LSN sequence (a skipped corrupt record, a hole), 0 when
   * there is none: a replication standby cuts its log there and fetches the rest again.
   */
  gapAfterLsn: number;
}

export function listSegments(ops: FileOps, dir: string): number[] {
  const indices: number[] = [];
  for (const name of ops.readdirSync(dir)) {
    const index = parseSegmentFileName(name);
    if (index !== undefined) indices.push(index);
    else if (isSpareFileName(name)) ops.unlinkSync(path.join(dir, name));
  }
  return indices.sort((a, b) => a - b);
}

class Replayer {
  readonly live = new Map<number, LiveJob>();
  readonly importKeys = new ImportKeyIndex();
  readonly segments: Segment[] = [];
  readonly warnings: string[] = [];
  maxId = 0;
  lastLsn = 0;
  gapAfterLsn = 0;
  oldestIsImport = false;
  readonly tally = new TermTally();

  constructor(
    private readonly ops: FileOps,
    private readonly dir: string,
  ) {}

  readSegment(index: number): void {
    const name = path.basename(this.filePath(index));
    const buf = this.ops.readFileSync(this.filePath(index));
    const headerProblem = checkFileHeader(buf);
    if (headerProblem !== undefined) {
      if (isZero(buf, 0, buf.length)) {
        this.warnings.push(`segment ${name} is all zeros (lost before it was synced): removed`);
        this.ops.unlinkSync(this.filePath(index));
        return;
      }
      this.warnings.push(`segment ${name}: ${headerProblem}; reading its intact records anyway`);
    }
    const segment = Segment.closed(index, this.filePath(index), 0);
    const { dataEnd, records } = this.readRecords(buf, segment, name);
    if (records === 0) {
      // Nothing but a header (a spare promoted just before a crash): nothing to keep.
      this.ops.unlinkSync(segment.path);
      return;
    }
    if (dataEnd < buf.length) this.truncate(segment.path, dataEnd);
    segment.used = dataEnd;
    segment.flushed = dataEnd;
    segment.capacity = dataEnd;
    this.segments.push(segment);
  }

  /** Applies every intact record; returns the end of the last one and how many there were. */
  private readRecords(buf: Buffer, segment: Segment, name: string): { dataEnd: number; records: number } {
    let off = FILE_HEADER_BYTES;
    let dataEnd = FILE_HEADER_BYTES;
    let records = 0;
    const at = { file: buf, segment, name };
    while (off < buf.length) {
      const r = decodeRecord(buf, off);
      if (r.ok) {
        this.apply(r.record, at, r.bytes, records === 0, off);
        records++;
        off += r.bytes;
        dataEnd = off;
        continue;
      }
      const next = findNextRecord(buf, off + 1);
      if (next < 0) {
        if (!isZero(buf, off, buf.length)) {
          let end = buf.length;
          while (end > off && buf[end - 1] === 0) end--;
          this.warnings.push(
            `torn tail in ${name} at offset ${off} (${r.reason}): ${end - off} bytes after the last intact ` +
              'record dropped and the file truncated — an interrupted write, never confirmed in -f 0',
          );
        }
        break;
      }
      this.warnings.push(
        isZero(buf, off, next)
          ? `HOLE in ${name} at offset ${off}: ${next - off} zero bytes before the intact record at offset ${next} ` +
              '(a write that never reached the disk); records in it are lost'
          : `CORRUPT record in ${name} at offset ${off} (${r.reason}): ${next - off} bytes skipped up to the ` +
              `intact record at offset ${next}; the change it held is lost`,
      );
      off = next;
    }
    return { dataEnd, records };
  }

  private apply(
    rec: LogRecord,
    at: { file: Buffer; segment: Segment; name: string },
    bytes: number,
    first: boolean,
    off: number,
  ): void {
    const { file, segment, name } = at;
    if (rec.lsn <= this.lastLsn) {
      this.warnings.push(
        `record in ${name} at offset ${off} repeats LSN ${rec.lsn} (a copied file?): ignored`,
      );
      return;
    }
    if (this.lastLsn > 0 && rec.lsn !== this.lastLsn + 1 && this.gapAfterLsn === 0)
      this.gapAfterLsn = this.lastLsn;
    this.lastLsn = rec.lsn;
    switch (rec.type) {
      case RecordType.Start:
        if (first) {
          segment.firstLsn = rec.lsn;
          segment.term = rec.term;
        }
        if (rec.maxId > this.maxId) this.maxId = rec.maxId;
        if (first && this.segments.length === 0 && (rec.flags & START_IMPORTED) !== 0)
          this.oldestIsImport = true;
        if ((rec.flags & START_NEW_TERM) !== 0) this.tally.newTerm();
        return;
      case RecordType.Put: {
        const orderLsn = rec.orderLsn > 0 ? rec.orderLsn : rec.lsn;
        const job = new LiveJob(rec.job, file, rec.bodyAt, rec.bodyBytes, segment, segment, bytes, orderLsn);
        job.movingTo = rec.movingTo;
        if (!this.live.has(rec.job.id)) this.tally.appeared(rec.job.tube, isMadePut(rec.flags));
        this.live.set(rec.job.id, job);
        if (rec.origin) this.importKeys.noted(rec.origin, segment, rec.lsn);
        break;
      }
      case RecordType.Update:
      case RecordType.Move: {
        const job = this.live.get(rec.job.id);
        if (job !== undefined) {
          job.record = { ...rec.job, tube: job.record.tube };
          job.seg = segment;
          job.orderLsn = rec.lsn;
          job.movingTo = rec.type === RecordType.Move ? rec.dest : undefined;
        }
        break;
      }
      case RecordType.Import:
        this.importKeys.noted(rec.key, segment, rec.lsn);
        return;
      case RecordType.Delete: {
        const job = this.live.get(rec.id);
        if (job !== undefined) this.tally.deleted(job.record.tube, job.movingTo === undefined);
        this.live.delete(rec.id);
        if (rec.id > this.maxId) this.maxId = rec.id;
        return;
      }
      case RecordType.Ids:
        // A ceiling: ids up to it may have been seen by clients. An exact mark (clean stop): no id
        // above it was ever handed out, whatever ceilings came before.
        if ((rec.flags & IDS_EXACT) !== 0) this.maxId = rec.ceiling;
        else if (rec.ceiling > this.maxId) this.maxId = rec.ceiling;
        return;
    }
    if (rec.job.id > this.maxId) this.maxId = rec.job.id;
  }

  private filePath(index: number): string {
    return path.join(this.dir, segmentFileName(index));
  }

  private truncate(filePath: string, bytes: number): void {
    const fd = this.ops.openSync(filePath, 'r+');
    try {
      this.ops.ftruncateSync(fd, bytes);
    } finally {
      this.ops.closeSync(fd);
    }
  }
}

/** Reads every segment of dir (removing leftover spares, empty and zeroed segments). */
export function replaySegments(ops: FileOps, dir: string): ReplayOutcome {
  const indices = listSegments(ops, dir);
  const replayer = new Replayer(ops, dir);
  for (const index of indices) replayer.readSegment(index);
  const jobs = [...replayer.live.values()];
  let sorted = true;
  for (let i = 1; i < jobs.length && sorted; i++) sorted = jobs[i - 1]!.orderLsn < jobs[i]!.orderLsn;
  if (!sorted) jobs.sort((a, b) => a.orderLsn - b.orderLsn);
  for (const j of jobs) {
    if (j.record.state === JobState.Reserved)
      j.record = { ...j.record, state: JobState.Ready, deadlineAtMs: 0 };
  }
  return {
    jobs,
    live: replayer.live,
    nextId: replayer.maxId + 1,
    warnings: replayer.warnings,
    segments: replayer.segments,
    maxId: replayer.maxId,
    lastLsn: replayer.lastLsn,
    nextSegmentIndex: (indices[indices.length - 1] ?? 0) + 1,
    oldestIsImport: replayer.oldestIsImport,
    importKeys: replayer.importKeys,
    gapAfterLsn: replayer.gapAfterLsn,
    tally: replayer.tally,
  };
}
