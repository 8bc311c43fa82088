/**
 * What replication reads of a primary's binlog (src/binlog implements it; this file keeps
 * src/replication free of the binlog's internals). Segments are listed oldest first; the last is
 * the one being written. Every write the log hands to the OS is reported, synchronously, after it
 * is in the file: a standby that is caught up gets it at once from memory, one that is behind
 * reads the same bytes from the file later.
 */
import type { TermStart } from './terms';

export interface SourceSegment {
  readonly index: number;
  readonly path: string;
  /** Preallocated size (the standby preallocates as much). */
  readonly capacity: number;
  /** Bytes assigned to records so far (header included). */
  readonly used: number;
  /** Bytes in the file (handed to the OS): what may be read. */
  readonly flushed: number;
  /** No more records will be appended. */
  readonly sealed: boolean;
  /** LSN of its start record. */
  readonly firstLsn: number;
  /** Readers of this file (catch-ups, full copies): retention keeps it (and every newer one) meanwhile. */
  readers: number;
}

/** One write the log made: bufs, back to back, at `position` of segment `index`. */
export interface WrittenSpan {
  index: number;
  position: number;
  bufs: readonly Buffer[];
  end: number;
}

export interface SourceLog {
  segments(): readonly SourceSegment[];
  /** LSN of the last record appended. */
  lastLsn(): number;
  /** Term history of the retained segments (docs/replication.md, "Terms"). */
  termHistory(): readonly TermStart[];
  /** The 32-byte file header of a segment. */
  segmentHeader(index: number): Buffer;
  /** LSN of the record at `offset` of segment `index` (read from the file), or undefined. */
  lsnAt(index: number, offset: number): number | undefined;
  /** Called after each write with the spans written and the LSN of the last record in them. */
  onWritten(listener: (spans: readonly WrittenSpan[], lastLsn: number) => void): () => void;
}
