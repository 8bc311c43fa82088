/**
 * Where each live job's records are, and which segments they pin.
 *
 * A live job pins two segments (often the same one): the one holding its latest full record (tube and
 * body) and the one holding its latest record of any kind (its current state). A segment nothing pins
 * may be unlinked once it is the oldest — see retention.ts.
 *
 * Kept in columns indexed by row (a job's row moves when another row is removed: the last one fills
 * the hole), found by id through an open-addressing table (engine/id-index.ts): no object, Map entry
 * or Set entry per job. Those were ~120 B a job that every scavenge of a put-heavy node copied, and
 * a tenth of a logged put's CPU (issue 18, bench/README.md).
 */
import { IdIndex } from '../engine/id-index';
import { DELETE_RECORD_BYTES } from './format';
import type { Segment } from './segment';

/** A job as replay found it (replay.ts's LiveJob): the index is built from these. */
export interface JobEntry {
  seg: Segment;
  bodySeg: Segment;
  /** Bytes of its latest full record. */
  fullBytes: number;
  /** LSN of the record that set the job's current state (buried FIFO order on replay). */
  orderLsn: number;
}

const MIN_ROWS = 16;

export class JobIndex {
  /** Σ fullBytes: what a freshly compacted log would hold. */
  liveBytes = 0;
  private rows = 0;
  private ids = new Float64Array(MIN_ROWS);
  private fullBytes = new Float64Array(MIN_ROWS);
  private orderLsns = new Float64Array(MIN_ROWS);
  private readonly segs: Segment[] = [];
  private readonly bodySegs: Segment[] = [];
  private readonly byId = new IdIndex((row) => this.ids[row]!);

  /** Replay's live jobs by id; each pins its segments from now on. */
  constructor(jobs: ReadonlyMap<number, JobEntry> = new Map()) {
    for (const [id, j] of jobs) {
      const row = this.addRow(id, j.seg, j.bodySeg, j.fullBytes, j.orderLsn);
      this.pin(row, j.seg);
      if (j.bodySeg !== j.seg) this.pin(row, j.bodySeg);
    }
  }

  get size(): number {
    return this.rows;
  }

  /** One delete record per live job: the room the current segment must always keep free. */
  reservedBytes(): number {
    return this.rows * DELETE_RECORD_BYTES;
  }

  has(id: number): boolean {
    return this.byId.get(id) >= 0;
  }

  /** LSN of the record that set the job's current state; 0 when the job is not logged. */
  orderLsnOf(id: number): number {
    const row = this.byId.get(id);
    return row < 0 ? 0 : this.orderLsns[row]!;
  }

  /** The segment holding the job's latest full record. */
  bodySegmentOf(id: number): Segment | undefined {
    const row = this.byId.get(id);
    return row < 0 ? undefined : this.bodySegs[row];
  }

  /** True while job `id` pins `s` (compaction's walk of a segment's refs). */
  pins(id: number, s: Segment): boolean {
    const row = this.byId.get(id);
    return row >= 0 && (this.segs[row] === s || this.bodySegs[row] === s);
  }

  /** A full record of the job was appended to seg (a put, or a compaction copy keeping `orderLsn`). */
  fullRecord(id: number, seg: Segment, fullBytes: number, orderLsn: number, lsn: number): void {
    const row = this.byId.get(id);
    if (row < 0) {
      this.pin(this.addRow(id, seg, seg, fullBytes, orderLsn), seg);
      return;
    }
    this.liveBytes += fullBytes - this.fullBytes[row]!;
    this.fullBytes[row] = fullBytes;
    this.orderLsns[row] = orderLsn;
    this.move(row, seg, seg, lsn);
  }

  /** A state record of the job was appended to seg. */
  stateRecord(id: number, seg: Segment, lsn: number): void {
    const row = this.byId.get(id);
    if (row < 0) return;
    this.orderLsns[row] = lsn;
    this.move(row, seg, this.bodySegs[row]!, lsn);
  }

  /** The job's delete record was appended: it pins nothing any more. */
  remove(id: number, lsn: number): void {
    const row = this.byId.get(id);
    if (row < 0) return;
    const seg = this.segs[row]!;
    const bodySeg = this.bodySegs[row]!;
    this.liveBytes -= this.fullBytes[row]!;
    this.byId.delete(id);
    const last = --this.rows;
    if (row !== last) {
      const lastId = this.ids[last]!;
      this.ids[row] = lastId;
      this.fullBytes[row] = this.fullBytes[last]!;
      this.orderLsns[row] = this.orderLsns[last]!;
      this.segs[row] = this.segs[last]!;
      this.bodySegs[row] = this.bodySegs[last]!;
      this.byId.move(lastId, row);
    }
    this.segs.length = last;
    this.bodySegs.length = last;
    if (last * 4 < this.ids.length && this.ids.length > MIN_ROWS) this.resize(this.ids.length / 2);
    unpin(seg, lsn);
    if (bodySeg !== seg) unpin(bodySeg, lsn);
  }

  private addRow(id: number, seg: Segment, bodySeg: Segment, fullBytes: number, orderLsn: number): number {
    if (this.rows === this.ids.length) this.resize(this.ids.length * 2);
    const row = this.rows++;
    this.ids[row] = id;
    this.fullBytes[row] = fullBytes;
    this.orderLsns[row] = orderLsn;
    this.segs[row] = seg;
    this.bodySegs[row] = bodySeg;
    this.byId.add(id, row);
    this.liveBytes += fullBytes;
    return row;
  }

  private resize(capacity: number): void {
    const rows = this.rows;
    const copy = (old: Float64Array): Float64Array<ArrayBuffer> => {
      const next = new Float64Array(capacity);
      next.set(old.subarray(0, rows));
      return next;
    };
    this.ids = copy(this.ids);
    this.fullBytes = copy(this.fullBytes);
    this.orderLsns = copy(this.orderLsns);
  }

  private pin(row: number, s: Segment): void {
    s.refs.add(this.ids[row]!);
  }

  /** The job's records now pin {seg, bodySeg} instead of its old pair. */
  private move(row: number, seg: Segment, bodySeg: Segment, lsn: number): void {
    const oldSeg = this.segs[row]!;
    const oldBodySeg = this.bodySegs[row]!;
    this.segs[row] = seg;
    this.bodySegs[row] = bodySeg;
    if (seg !== oldSeg && seg !== oldBodySeg) this.pin(row, seg);
    if (bodySeg !== seg && bodySeg !== oldSeg && bodySeg !== oldBodySeg) this.pin(row, bodySeg);
    if (oldSeg !== seg && oldSeg !== bodySeg) unpin(oldSeg, lsn);
    if (oldBodySeg !== oldSeg && oldBodySeg !== seg && oldBodySeg !== bodySeg) unpin(oldBodySeg, lsn);
  }
}

/** `lsn` superseded the job's records in s; once nothing pins s, that LSN must be safe before unlinking. */
function unpin(s: Segment, lsn: number): void {
  if (s.refs.release()) s.freedAtLsn = lsn;
}
