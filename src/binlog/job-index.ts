/**
 * Where each live job's records are, and which segments they pin.
 *
 * A live job pins two segments (often the same one): the one holding its latest full record (tube and
 * body) and the one holding its latest record of any kind (its current state). A segment nothing pins
 * may be unlinked once it is the oldest — see retention.ts.
 */
import { DELETE_RECORD_BYTES } from './format';
import type { Segment } from './segment';

/** `orderLsn`: LSN of the record that set the job's current state (buried FIFO order on replay). */
export interface JobEntry {
  seg: Segment;
  bodySeg: Segment;
  /** Bytes of its latest full record. */
  fullBytes: number;
  orderLsn: number;
}

export class JobIndex {
  /** Σ fullBytes: what a freshly compacted log would hold. */
  liveBytes = 0;

  /** Takes over replay's map (no second index of millions of entries). */
  constructor(private readonly jobs: Map<number, JobEntry>) {
    for (const [id, j] of jobs) {
      j.seg.refs.add(id);
      j.bodySeg.refs.add(id);
      this.liveBytes += j.fullBytes;
    }
  }

  get size(): number {
    return this.jobs.size;
  }

  /** One delete record per live job: the room the current segment must always keep free. */
  reservedBytes(): number {
    return this.jobs.size * DELETE_RECORD_BYTES;
  }

  get(id: number): JobEntry | undefined {
    return this.jobs.get(id);
  }

  /** A full record of the job was appended to seg (a put, or a compaction copy keeping `orderLsn`). */
  fullRecord(id: number, seg: Segment, fullBytes: number, orderLsn: number, lsn: number): void {
    const entry = this.jobs.get(id);
    if (entry === undefined) {
      this.jobs.set(id, { seg, bodySeg: seg, fullBytes, orderLsn });
      seg.refs.add(id);
      this.liveBytes += fullBytes;
      return;
    }
    this.liveBytes += fullBytes - entry.fullBytes;
    entry.fullBytes = fullBytes;
    entry.orderLsn = orderLsn;
    this.move(id, entry, seg, seg, lsn);
  }

  /** A state record of the job was appended to seg. */
  stateRecord(id: number, seg: Segment, lsn: number): void {
    const entry = this.jobs.get(id);
    if (entry === undefined) return;
    entry.orderLsn = lsn;
    this.move(id, entry, seg, entry.bodySeg, lsn);
  }

  /** The job's delete record was appended: it pins nothing any more. */
  remove(id: number, lsn: number): void {
    const entry = this.jobs.get(id);
    if (entry === undefined) return;
    this.jobs.delete(id);
    this.liveBytes -= entry.fullBytes;
    unpin(id, entry.seg, lsn);
    if (entry.bodySeg !== entry.seg) unpin(id, entry.bodySeg, lsn);
  }

  private move(id: number, entry: JobEntry, seg: Segment, bodySeg: Segment, lsn: number): void {
    const oldSeg = entry.seg;
    const oldBodySeg = entry.bodySeg;
    entry.seg = seg;
    entry.bodySeg = bodySeg;
    seg.refs.add(id);
    bodySeg.refs.add(id);
    if (oldSeg !== seg && oldSeg !== bodySeg) unpin(id, oldSeg, lsn);
    if (oldBodySeg !== oldSeg && oldBodySeg !== seg && oldBodySeg !== bodySeg) unpin(id, oldBodySeg, lsn);
  }
}

/** `lsn` superseded the job's records in s; once nothing pins s, that LSN must be safe before unlinking. */
function unpin(id: number, s: Segment, lsn: number): void {
  if (s.refs.delete(id) && s.refs.size === 0) s.freedAtLsn = lsn;
}
