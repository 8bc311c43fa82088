/**
 * Reading a binlog directory without changing it (`stalkd binlog verify|dump`): the start-up replay
 * itself (replay.ts) runs over a FileOps that skips the housekeeping start-up does (remove spares
 * and empty segments, trim preallocated space and torn tails) and refuses every other change. So the jobs listed
 * are exactly the jobs a node started on this directory would restore, every record has been
 * decoded and its checksum checked, and the directory may belong to a running node or be a copy.
 *
 * Findings are split by what they mean for an operator:
 *   - damage: a corrupt record, a hole, an unreadable header, a torn tail in a segment that is not
 *     the newest, a repeated LSN (a segment copied over another) — changes were lost;
 *   - notes: a torn tail in the newest segment (the end of a log whose writer was stopped mid-write,
 *     or a copy of a running node's log: nothing acknowledged is lost with -f 0) and a segment
 *     that was never written (all zeros).
 */
import * as path from 'node:path';
import { JobState } from '../engine/journal';
import { type FileOps, nodeFileOps } from './file-ops';
import { type LiveJob, listSegments, replaySegments } from './replay';
import { segmentFileName } from './segment';

export interface BinlogReport {
  dir: string;
  /** Segment file names, oldest first. */
  segments: string[];
  /** Bytes of the segment files on disk. */
  diskBytes: number;
  /** Jobs as a node would restore them, in restore order (reserved jobs come back ready). */
  jobs: LiveJob[];
  jobsByState: Record<JobState, number>;
  tubes: number;
  /** The first id a node started on this directory hands out: above every id ever logged. */
  nextId: number;
  lastLsn: number;
  damage: string[];
  notes: string[];
}

/** A negative descriptor: no real file is ever opened for writing. */
const READ_ONLY_FD = -1;

/** The calls that only read. */
const READS = new Set<keyof FileOps>(['readFileSync', 'readdirSync', 'sizeSync']);

/** FileOps that reads through, skips replay's housekeeping and refuses anything else. */
function readOnlyOps(base: FileOps): FileOps {
  const ops = { ...base };
  for (const key of Object.keys(base) as (keyof FileOps)[]) {
    if (READS.has(key)) continue;
    (ops as Record<string, unknown>)[key] = () => {
      throw new Error(`binlog inspection must not call ${key}`);
    };
  }
  return Object.assign(ops, {
    // Housekeeping that start-up does and inspection skips: trimming preallocated space or a
    // torn tail (open r+, ftruncate, close), removing spares and empty segments.
    openSync: (file: string, flags: string, mode?: number) =>
      flags === 'r' ? base.openSync(file, flags, mode) : READ_ONLY_FD,
    closeSync: (fd: number) => {
      if (fd !== READ_ONLY_FD) base.closeSync(fd);
    },
    ftruncateSync: (fd: number) => {
      if (fd !== READ_ONLY_FD) throw new Error('binlog inspection must not truncate');
    },
    unlinkSync: () => {},
  } satisfies Partial<FileOps>);
}

/** Replays `dir` read-only and classifies what the replay found. Throws when dir cannot be read. */
export function inspectBinlog(dir: string, ops: FileOps = nodeFileOps): BinlogReport {
  const readOnly = readOnlyOps(ops);
  const indices = listSegments(readOnly, dir);
  const newest = indices.length > 0 ? segmentFileName(indices[indices.length - 1] as number) : '';
  const replay = replaySegments(readOnly, dir);
  const damage: string[] = [];
  const notes: string[] = [];
  for (const w of replay.warnings) {
    const benign =
      (w.startsWith('torn tail in ') && w.startsWith(`torn tail in ${newest} `)) ||
      / is all zeros \(lost before it was synced\)/.test(w);
    (benign ? notes : damage).push(w.replace(/: removed$/, ''));
  }
  const jobsByState: Record<JobState, number> = {
    ready: 0,
    reserved: 0,
    delayed: 0,
    buried: 0,
    moving: 0,
  };
  const tubes = new Set<string>();
  for (const j of replay.jobs) {
    jobsByState[j.movingTo === undefined ? j.record.state : 'moving']++;
    tubes.add(j.record.tube);
  }
  const segments = indices.map(segmentFileName);
  let diskBytes = 0;
  for (const name of segments) diskBytes += ops.sizeSync(path.join(dir, name)) ?? 0;
  return {
    dir,
    segments,
    diskBytes,
    jobs: replay.jobs,
    jobsByState,
    tubes: tubes.size,
    nextId: replay.nextId,
    lastLsn: replay.lastLsn,
    damage,
    notes,
  };
}

/** Reserved jobs are restored ready, so a report never counts any reserved. */
export const RESTORED_STATES = [JobState.Ready, JobState.Delayed, JobState.Buried] as const;
