/**
 * A replicated member's binlog directory (docs/replication.md). The directory is locked once for
 * the life of the process; the log in it is opened as a primary's Binlog or as a standby's
 * FollowerLog as the member's role changes, and cut (an unconfirmed tail) or emptied (a full copy)
 * between two openings. Whatever is opened leaves the lock alone: the directory releases it.
 */
import * as path from 'node:path';
import type { ImportKey } from '../engine/journal';
import { Binlog } from './binlog';
import type { BinlogOptions } from './contract';
import { type FileOps, nodeFileOps } from './file-ops';
import { FollowerLog } from './follower-log';
import { decodeRecord, FILE_HEADER_BYTES, findNextRecord } from './format';
import { JobIndex } from './job-index';
import { type DirLock, lockDirectory } from './lock';
import { listSegments, type ReplayedJob, type ReplayOutcome, replaySegments } from './replay';
import { segmentFileName } from './segment';
import type { TermTally } from './term-tally';

export interface OpenedLog<L> {
  log: L;
  /** Live jobs in restore order. */
  jobs: ReplayedJob[];
  nextId: number;
  warnings: string[];
  importKeys: ImportKey[];
  /** A standby's total-jobs and cmd-delete since the term began (replay.ts, term-tally.ts). */
  tally?: TermTally;
}

export class LogDirectory {
  private constructor(
    readonly dir: string,
    private readonly options: BinlogOptions,
    private readonly ops: FileOps,
    private readonly lock: DirLock,
  ) {}

  static async open(dir: string, options: BinlogOptions, ops: FileOps = nodeFileOps): Promise<LogDirectory> {
    return new LogDirectory(dir, options, ops, await lockDirectory(dir));
  }

  /** What the log holds, without opening it for writing: term and position of its last record. */
  describe(): { lastTerm: number; lastLsn: number; empty: boolean } {
    const replay = replaySegments(this.ops, this.dir);
    const last = replay.segments[replay.segments.length - 1];
    return { lastTerm: last?.term ?? 0, lastLsn: replay.lastLsn, empty: replay.segments.length === 0 };
  }

  /** The log as a primary at `term`: a new segment whose start record carries it. */
  openPrimary(term: number): OpenedLog<Binlog> {
    const replay = replaySegments(this.ops, this.dir);
    const binlog = new Binlog(this.ops, this.dir, this.options, {
      segments: replay.segments,
      jobs: new JobIndex(replay.live),
      maxId: replay.maxId,
      lastLsn: replay.lastLsn,
      nextSegmentIndex: replay.nextSegmentIndex,
      recordsMigrated: 0,
      release: async () => {},
      term,
      importKeys: replay.importKeys,
    });
    return {
      log: binlog,
      jobs: replay.jobs,
      nextId: replay.nextId,
      warnings: replay.warnings,
      importKeys: replay.importKeys.keys(),
    };
  }

  /**
   * The log as a standby's: cut at its first gap (a hole or a corrupt record: the rest comes again
   * from the primary), its last segment continued.
   */
  openFollower(): OpenedLog<FollowerLog> {
    let replay: ReplayOutcome = replaySegments(this.ops, this.dir);
    const warnings = [...replay.warnings];
    if (replay.gapAfterLsn > 0) {
      warnings.push(
        `the log has a gap after LSN ${replay.gapAfterLsn}: cut there, the rest is fetched from the primary again`,
      );
      this.truncateAfter(replay.gapAfterLsn);
      replay = replaySegments(this.ops, this.dir);
    }
    const log = new FollowerLog(this.ops, this.dir, this.options, {
      segments: replay.segments,
      jobs: new JobIndex(replay.live),
      maxId: replay.maxId,
      lastLsn: replay.lastLsn,
      release: async () => {},
      importKeys: replay.importKeys,
    });
    const { jobs, nextId, tally } = replay;
    return { log, jobs, nextId, warnings, importKeys: replay.importKeys.keys(), tally };
  }

  /** A promoted standby's log as a primary's, at `term`: no replay, the follower's state goes on. */
  async promote(follower: FollowerLog, term: number): Promise<Binlog> {
    const init = await follower.handOver();
    return new Binlog(this.ops, this.dir, this.options, { ...init, term });
  }

  /** Cuts the log after record `lsn`: later segments removed, the one holding it truncated. */
  truncateAfter(lsn: number): void {
    const indices = listSegments(this.ops, this.dir).reverse();
    for (const index of indices) {
      const file = path.join(this.dir, segmentFileName(index));
      const buf = this.ops.readFileSync(file);
      const end = endOfRecordsUpTo(buf, lsn);
      if (end <= FILE_HEADER_BYTES) {
        this.ops.unlinkSync(file);
        continue;
      }
      if (end < buf.length) {
        const fd = this.ops.openSync(file, 'r+');
        try {
          this.ops.ftruncateSync(fd, end);
          this.ops.fsyncSync(fd);
        } finally {
          this.ops.closeSync(fd);
        }
      }
      break;
    }
    this.ops.fsyncDirSync(this.dir);
  }

  /** Removes every segment (before a full copy). */
  wipe(): void {
    for (const index of listSegments(this.ops, this.dir))
      this.ops.unlinkSync(path.join(this.dir, segmentFileName(index)));
    this.ops.fsyncDirSync(this.dir);
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}

/** Offset after the last intact record with LSN ≤ lsn (FILE_HEADER_BYTES when there is none). */
function endOfRecordsUpTo(buf: Buffer, lsn: number): number {
  let end = FILE_HEADER_BYTES;
  for (let p = FILE_HEADER_BYTES; p < buf.length; ) {
    const r = decodeRecord(buf, p);
    if (!r.ok) {
      p = findNextRecord(buf, p + 1);
      if (p < 0) break;
      continue;
    }
    if (r.record.lsn > lsn) break;
    p += r.bytes;
    end = p;
  }
  return end;
}
