/**
 * What the node server sees of the binlog besides the Journal: options (the -b/-f/-F/-s flags),
 * the stats behind the `binlog-*` keys, and the engine's job lookup used by compaction.
 */
import type { JobRecord } from '../engine/journal';
import type { ImportKeyIndex } from './import-keys';
import type { JobIndex } from './job-index';
import type { Segment } from './segment';

export const DEFAULT_SEGMENT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_FSYNC_EVERY_MS = 50;

export interface BinlogOptions {
  /** -s: segment size in bytes as given (stats show it as is; files are rounded up to 4 KiB). */
  segmentBytes?: number;
  /** -f MS: fsync at most every MS ms; 0 = strict group commit; null = -F (never fsync). */
  fsyncEveryMs?: number | null;
  /** Where operating warnings go (disk full, write errors). Default: stderr. */
  log?: (line: string) => void;
}

/** The engine's current view of a live job, for compaction copies. */
export type JobSource = (id: number) => { record: JobRecord; body: Buffer; movingTo?: string } | undefined;

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
  /** Failed writes, fsyncs and segment creations since start. */
  writeErrors: number;
  /**
   * Segments created on the event loop since start — zeros written and fsynced while no request
   * is served — because the one preallocated in the background was not ready or too small.
   */
  blockingPreallocations: number;
  /** False while puts cannot be logged: a failed write awaits its retry, or the disk is full. */
  writable: boolean;
}

/** Replay's findings handed to the constructor. */
export interface BinlogInit {
  segments: Segment[];
  /** Where the live jobs' records are (built from replay's jobs, or a standby's at promotion). */
  jobs: JobIndex;
  maxId: number;
  lastLsn: number;
  nextSegmentIndex: number;
  recordsMigrated: number;
  release: () => Promise<void>;
  /** Import keys and the segments they pin (replay's, or a standby's at promotion); default none. */
  importKeys?: ImportKeyIndex;
  /**
   * Replication: the term of the primary opening the log (its segments' start records carry it);
   * higher than the last segment's term, the new segment is the first of that term. Default: the
   * last segment's term (0 for a node without replication).
   */
  term?: number;
}
