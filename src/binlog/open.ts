/**
 * Start-up of `-b DIR`: lock the directory, import beanstalkd files if present, replay every segment,
 * open a new segment for writing. The caller feeds the replay into the engine (restoreInto) and
 * prints `warnings` (damage found) and `notes` (what was done, e.g. an import).
 */
import * as path from 'node:path';
import type { ImportKey, JobRecord } from '../engine/journal';
import { Binlog } from './binlog';
import type { BinlogOptions } from './contract';
import { type FileOps, nodeFileOps } from './file-ops';
import { decodeRecord, FILE_HEADER_BYTES, RecordType, START_IMPORTED } from './format';
import { type ImportOutcome, importBeanstalkd } from './import-beanstalkd';
import { JobIndex } from './job-index';
import { lockDirectory } from './lock';
import { LiveJob, listSegments, type ReplayedJob, replaySegments } from './replay';
import { segmentFileName } from './segment';

export interface OpenedBinlog {
  binlog: Binlog;
  /** Live jobs, in the order to restore them (buried FIFO order kept). */
  jobs: ReplayedJob[];
  /** Above every id ever logged, deleted jobs included. */
  nextId: number;
  /** Damage found and repaired: torn tails, corrupt records (file and offset), unreadable files. */
  warnings: string[];
  /** What start-up did besides replaying (beanstalkd import). */
  notes: string[];
  /** Jobs converted from beanstalkd binlog files during this start. */
  importedJobs: number;
  /** Import keys of jobs moved here (engine/moves.ts). */
  importKeys: ImportKey[];
}

/** True when the oldest segment begins with a start record flagged as a beanstalkd import. */
function oldestIsImport(ops: FileOps, dir: string): boolean {
  const oldest = listSegments(ops, dir)[0];
  if (oldest === undefined) return false;
  const r = decodeRecord(ops.readFileSync(path.join(dir, segmentFileName(oldest))), FILE_HEADER_BYTES);
  return r.ok && r.record.type === RecordType.Start && (r.record.flags & START_IMPORTED) !== 0;
}

/**
 * The first step of a start, synchronous: leftover spares removed, beanstalkd files imported (or an
 * interrupted import finished) when there are any.
 */
export function importOnStart(ops: FileOps, dir: string): ImportOutcome {
  return importBeanstalkd(ops, dir, listSegments(ops, dir).length > 0, () => oldestIsImport(ops, dir));
}

/**
 * Opens the binlog in dir. Throws BinlogLockedError when another process holds the directory and
 * BinlogImportError when beanstalkd files sit next to unrelated stalkd segments; damaged data never
 * throws (see warnings).
 */
export async function openBinlog(
  dir: string,
  options: BinlogOptions = {},
  ops: FileOps = nodeFileOps,
): Promise<OpenedBinlog> {
  const lock = await lockDirectory(dir);
  try {
    const imported = importOnStart(ops, dir);
    const replay = replaySegments(ops, dir);
    const binlog = new Binlog(ops, dir, options, {
      segments: replay.segments,
      jobs: new JobIndex(replay.live),
      maxId: replay.maxId,
      lastLsn: replay.lastLsn,
      nextSegmentIndex: replay.nextSegmentIndex,
      recordsMigrated: 0,
      release: () => lock.release(),
      importKeys: replay.importKeys,
    });
    return {
      binlog,
      jobs: replay.jobs,
      nextId: replay.nextId,
      warnings: [...imported.warnings, ...replay.warnings],
      notes: imported.notes,
      importedJobs: imported.jobs,
      importKeys: replay.importKeys.keys(),
    };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** What the engine offers for a restart. */
export interface JobRestorer {
  restoreJob(record: JobRecord, body: Buffer, movingTo?: string): void;
  restoreImportKey(key: ImportKey): void;
  setNextId(n: number): void;
}

/**
 * Feeds a replay into the engine: every job in order, then the id sequence. Bodies are views into
 * the replay's read buffers, released job by job as they are handed over (the engine copies them).
 */
export function restoreInto(
  target: JobRestorer,
  replay: { jobs: ReplayedJob[]; nextId: number; importKeys?: ImportKey[] },
): void {
  for (const job of replay.jobs) {
    target.restoreJob(job.record, job.body, job.movingTo);
    if (job instanceof LiveJob) job.detach();
  }
  for (const key of replay.importKeys ?? []) target.restoreImportKey(key);
  target.setNextId(replay.nextId);
}
