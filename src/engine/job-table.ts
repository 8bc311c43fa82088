/**
 * Every live job, column-wise: beanstalkd's Jobrec fields as typed arrays indexed by a slot
 * number, and each job's record in the slab arena (the numbers read rarely, then the body).
 *
 * Why not one object per job: an object of ~19 fields, a boxed double and a Buffer per body cost
 * ~520 bytes a job; worse, a million long-lived objects (and the arrays of references that hold
 * them) make V8 grow its young generation to the maximum and mark them all on every full GC.
 * Here a job costs 57 bytes of columns (id, owner, deadline: 3 × 8; eight 4-byte columns; state:
 * 1), its record (56 + body + 2, rounded up to 8), 5–11 bytes of id index (4 / load factor) and
 * 4 per heap it sits in — all outside the JS heap: 100-byte bodies come to ~230 bytes a job.
 *
 * A body too big to share a slab (over S/8 = 32 KiB) stays in its own Buffer — the one the parser
 * filled, kept as is rather than copied — and its record holds the header alone.
 *
 * Slots are reused. The columns grow by half when full and halve when under a quarter is live:
 * the live jobs from the upper half then move down (`relocated` tells the engine, which fixes the
 * heaps and lists that name them). A Job (job.ts) is the view the world outside the engine gets.
 */
import { IdIndex } from './id-index';
import { invariant } from './invariant';
import type { JobRecord } from './journal';
import { type Slab, SlabArena } from './slab-arena';

/** No job (an empty heap's top, the end of a list). */
export const NO_JOB = -1;

/** The state column's values; 0 marks a free slot. */
/** Moving: handed to another node by `x-move-out`, in no heap or list until done (moves.ts). */
export const StateCode = { Free: 0, Ready: 1, Reserved: 2, Delayed: 3, Buried: 4, Moving: 5 } as const;
export type StateCode = (typeof StateCode)[keyof typeof StateCode];

/** Counters kept as u32 in the record (beanstalkd's and the binlog's width). */
export type JobCounter = 'reserves' | 'timeouts' | 'releases' | 'buries' | 'kicks';

/*
 * Record layout, byte offsets (the arena owns +0: key = slot + 1, and +8: length):
 *   +12 u32 reserves   +16 f64 createdAtMs   +24 f64 ttrMs   +32 f64 delayMs
 *   +40 u32 timeouts   +44 u32 releases      +48 u32 buries  +52 u32 kicks
 *   +56 body, then "\r\n" — or nothing: a record of exactly 56 bytes has its body in bigBodies
 */
const COUNTER_AT: Readonly<Record<JobCounter, number>> = {
  reserves: 12,
  timeouts: 40,
  releases: 44,
  buries: 48,
  kicks: 52,
};
const CREATED_AT_F64 = 16;
const TTR_F64 = 24;
const DELAY_F64 = 32;
export const JOB_RECORD_HEADER_BYTES = 56;

const MIN_CAPACITY = 64;

export class JobTable {
  /** Slots in the columns, and how many hold a job. */
  capacity = 0;
  live = 0;
  /** Hot columns, by slot. Reallocated on resize: always read them through the table. */
  id = new Float64Array(0);
  /** Unsigned 32-bit; lower is more urgent. */
  pri = new Uint32Array(0);
  state = new Uint8Array(0);
  /** Tube by number (Engine.tubeByNo). */
  tubeNo = new Int32Array(0);
  /** Position in the ready or delayed heap of its tube, or in the TTR heap; -1 = none. */
  heapIndex = new Int32Array(0);
  /** Reserved: position in the owner's deadline heap, and the owner's session id (0 = none). */
  sessionHeapIndex = new Int32Array(0);
  /** f64: session ids only grow (one per connection), past 2^31 on a long-lived node. */
  reservedBy = new Float64Array(0);
  /** Buried: FIFO links (slots, NO_JOB at the ends). Free slots chain through `next`. */
  prev = new Int32Array(0);
  next = new Int32Array(0);
  /** Reserved: TTR deadline. Delayed: when it becomes ready. Otherwise 0. ms since epoch. */
  deadlineAtMs = new Float64Array(0);
  /** Where the record is: slab number and byte offset. */
  recordSlab = new Int32Array(0);
  recordAt = new Int32Array(0);

  readonly index = new IdIndex((slot) => this.id[slot]!);
  readonly arena: SlabArena;
  /** Bodies (with CRLF) of jobs whose record is the header alone, by slot. */
  private readonly bigBodies = new Map<number, Buffer>();
  /** Bytes of the bodies kept outside the slabs (bigBodies), CRLF included. */
  private bigBodyBytes = 0;
  private freeHead = NO_JOB;

  constructor(
    /** A job moved from slot `from` to `to` (columns copied, index updated): fix what names it. */
    private readonly relocated: (from: number, to: number) => void,
    slabBytes?: number,
  ) {
    this.arena = new SlabArena((key, slab, at) => {
      this.recordSlab[key - 1] = slab.no;
      this.recordAt[key - 1] = at;
    }, slabBytes);
  }

  /** Ready order: priority first, then id (FIFO). */
  readonly readyLess = (a: number, b: number): boolean => {
    const pa = this.pri[a]!;
    const pb = this.pri[b]!;
    return pa < pb || (pa === pb && this.id[a]! < this.id[b]!);
  };
  /** Delayed and reserved order: soonest deadline first, then id. */
  readonly deadlineLess = (a: number, b: number): boolean => {
    const da = this.deadlineAtMs[a]!;
    const db = this.deadlineAtMs[b]!;
    return da < db || (da === db && this.id[a]! < this.id[b]!);
  };
  readonly setHeapIndex = (slot: number, i: number): void => {
    this.heapIndex[slot] = i;
  };
  readonly getHeapIndex = (slot: number): number => this.heapIndex[slot]!;
  readonly setSessionHeapIndex = (slot: number, i: number): void => {
    this.sessionHeapIndex[slot] = i;
  };
  readonly getSessionHeapIndex = (slot: number): number => this.sessionHeapIndex[slot]!;

  /** The slot of job `id`, or NO_JOB. */
  slotOf(id: number): number {
    return this.index.get(id);
  }

  /**
   * A new job from `record` (id, priority, times, counters; its state is the caller's to set) in
   * tube number `tubeNo`. `body` ends with its CRLF, or lacks it when `addCrlf` (a binlog record).
   * A big body that owns its whole ArrayBuffer is kept, not copied: the caller must not change it.
   */
  create(record: JobRecord, tubeNo: number, body: Buffer, addCrlf: boolean): number {
    if (this.freeHead === NO_JOB) this.resize(Math.max(MIN_CAPACITY, Math.ceil(this.capacity * 1.5)));
    const slot = this.freeHead;
    this.freeHead = this.next[slot]!;
    this.id[slot] = record.id;
    this.pri[slot] = record.pri;
    this.state[slot] = StateCode.Ready;
    this.tubeNo[slot] = tubeNo;
    this.heapIndex[slot] = -1;
    this.sessionHeapIndex[slot] = -1;
    this.reservedBy[slot] = 0;
    this.prev[slot] = NO_JOB;
    this.next[slot] = NO_JOB;
    this.deadlineAtMs[slot] = record.deadlineAtMs;
    const bodyWithCrlfBytes = body.length + (addCrlf ? 2 : 0);
    const big = JOB_RECORD_HEADER_BYTES + bodyWithCrlfBytes > this.arena.maxSharedBytes;
    if (big) {
      this.bigBodies.set(slot, ownedBody(body, addCrlf));
      this.bigBodyBytes += bodyWithCrlfBytes;
    }
    const bytes = JOB_RECORD_HEADER_BYTES + (big ? 0 : bodyWithCrlfBytes);
    const slab = this.arena.alloc(slot + 1, bytes);
    const at = slab.lastAt;
    this.recordSlab[slot] = slab.no;
    this.recordAt[slot] = at;
    const f64 = slab.f64;
    f64[(at + CREATED_AT_F64) >>> 3] = record.createdAtMs;
    f64[(at + TTR_F64) >>> 3] = record.ttrMs;
    f64[(at + DELAY_F64) >>> 3] = record.delayMs;
    const u32 = slab.u32;
    u32[(at + COUNTER_AT.reserves) >>> 2] = record.reserves;
    u32[(at + COUNTER_AT.timeouts) >>> 2] = record.timeouts;
    u32[(at + COUNTER_AT.releases) >>> 2] = record.releases;
    u32[(at + COUNTER_AT.buries) >>> 2] = record.buries;
    u32[(at + COUNTER_AT.kicks) >>> 2] = record.kicks;
    if (!big) {
      body.copy(slab.bytes, at + JOB_RECORD_HEADER_BYTES);
      if (addCrlf) slab.bytes.write('\r\n', at + bytes - 2, 'latin1');
    }
    this.index.add(record.id, slot);
    this.live++;
    return slot;
  }

  /** The job is gone (already out of every heap and list). Other jobs may move (see `relocated`). */
  /**
   * Memory the jobs' records and bodies take: the slabs allocated (free space in them included)
   * and the big bodies. What --max-jobs-bytes bounds; the columns add ~57 bytes a job.
   */
  get jobsBytes(): number {
    return this.arena.capacityBytes + this.bigBodyBytes;
  }

  remove(slot: number): void {
    invariant(this.state[slot] !== StateCode.Free, `slot ${slot} is free`);
    this.index.delete(this.id[slot]!);
    this.state[slot] = StateCode.Free;
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
    this.live--;
    this.bigBodyBytes -= this.bigBodies.get(slot)?.length ?? 0;
    this.bigBodies.delete(slot);
    this.arena.free(this.slabOf(slot), this.recordAt[slot]!);
    if (this.live * 4 < this.capacity && this.capacity > MIN_CAPACITY) this.shrink();
  }

  createdAtMs(slot: number): number {
    return this.slabOf(slot).f64[(this.recordAt[slot]! + CREATED_AT_F64) >>> 3]!;
  }
  ttrMs(slot: number): number {
    return this.slabOf(slot).f64[(this.recordAt[slot]! + TTR_F64) >>> 3]!;
  }
  /** The last delay given (put or release). */
  delayMs(slot: number): number {
    return this.slabOf(slot).f64[(this.recordAt[slot]! + DELAY_F64) >>> 3]!;
  }
  setDelayMs(slot: number, ms: number): void {
    this.slabOf(slot).f64[(this.recordAt[slot]! + DELAY_F64) >>> 3] = ms;
  }

  counter(slot: number, name: JobCounter): number {
    return this.slabOf(slot).u32[(this.recordAt[slot]! + COUNTER_AT[name]) >>> 2]!;
  }
  /** Adds `by` (±1), wrapping as beanstalkd's uint32 does. */
  bump(slot: number, name: JobCounter, by = 1): void {
    const u32 = this.slabOf(slot).u32;
    const i = (this.recordAt[slot]! + COUNTER_AT[name]) >>> 2;
    u32[i] = u32[i]! + by;
  }

  /** The fields a log record carries besides id, tube, priority and state: ttr, delay, counters. */
  setLoggedFields(slot: number, record: JobRecord): void {
    const slab = this.slabOf(slot);
    const at = this.recordAt[slot]!;
    slab.f64[(at + TTR_F64) >>> 3] = record.ttrMs;
    slab.f64[(at + DELAY_F64) >>> 3] = record.delayMs;
    for (const name of Object.keys(COUNTER_AT) as JobCounter[])
      slab.u32[(at + COUNTER_AT[name]) >>> 2] = record[name];
  }

  bodyBytes(slot: number): number {
    const length = this.slabOf(slot).lengthAt(this.recordAt[slot]!);
    if (length === JOB_RECORD_HEADER_BYTES) return (this.bigBodies.get(slot) as Buffer).length - 2;
    return length - JOB_RECORD_HEADER_BYTES - 2;
  }

  /**
   * Body followed by "\r\n", so a reply is header + this buffer. A new view each call; its bytes
   * never change, even after the job is deleted or its record moves (see slab-arena.ts).
   */
  bodyWithCrlf(slot: number): Buffer {
    const slab = this.slabOf(slot);
    const at = this.recordAt[slot]!;
    const end = at + slab.lengthAt(at);
    if (end === at + JOB_RECORD_HEADER_BYTES) return this.bigBodies.get(slot) as Buffer;
    return slab.bytes.subarray(at + JOB_RECORD_HEADER_BYTES, end);
  }

  private slabOf(slot: number): Slab {
    return this.arena.slab(this.recordSlab[slot]!);
  }

  /** Halves the columns: live jobs in the upper half move to free slots in the lower. */
  private shrink(): void {
    const capacity = Math.max(MIN_CAPACITY, this.capacity >>> 1);
    const free: number[] = [];
    for (let slot = capacity - 1; slot >= 0; slot--) if (this.state[slot] === StateCode.Free) free.push(slot);
    for (let from = capacity; from < this.capacity; from++) {
      if (this.state[from] === StateCode.Free) continue;
      const to = free.pop() as number;
      this.copySlot(from, to);
      this.state[from] = StateCode.Free;
      this.index.move(this.id[to]!, to);
      this.arena.rekey(this.slabOf(to), this.recordAt[to]!, to + 1);
      const bigBody = this.bigBodies.get(from);
      if (bigBody) {
        this.bigBodies.delete(from);
        this.bigBodies.set(to, bigBody);
      }
      this.relocated(from, to);
    }
    this.resize(capacity);
  }

  private copySlot(from: number, to: number): void {
    this.id[to] = this.id[from]!;
    this.pri[to] = this.pri[from]!;
    this.state[to] = this.state[from]!;
    this.tubeNo[to] = this.tubeNo[from]!;
    this.heapIndex[to] = this.heapIndex[from]!;
    this.sessionHeapIndex[to] = this.sessionHeapIndex[from]!;
    this.reservedBy[to] = this.reservedBy[from]!;
    this.prev[to] = this.prev[from]!;
    this.next[to] = this.next[from]!;
    this.deadlineAtMs[to] = this.deadlineAtMs[from]!;
    this.recordSlab[to] = this.recordSlab[from]!;
    this.recordAt[to] = this.recordAt[from]!;
  }

  /** New columns of `capacity` slots (every live slot is below it); rebuilds the free chain. */
  private resize(capacity: number): void {
    const keep = Math.min(capacity, this.capacity);
    const grown = <T extends Float64Array | Uint32Array | Int32Array | Uint8Array>(
      make: new (n: number) => T,
      old: T,
    ): T => {
      const column = new make(capacity);
      column.set(old.subarray(0, keep) as never);
      return column;
    };
    this.id = grown(Float64Array, this.id);
    this.pri = grown(Uint32Array, this.pri);
    this.state = grown(Uint8Array, this.state);
    this.tubeNo = grown(Int32Array, this.tubeNo);
    this.heapIndex = grown(Int32Array, this.heapIndex);
    this.sessionHeapIndex = grown(Int32Array, this.sessionHeapIndex);
    this.reservedBy = grown(Float64Array, this.reservedBy);
    this.prev = grown(Int32Array, this.prev);
    this.next = grown(Int32Array, this.next);
    this.deadlineAtMs = grown(Float64Array, this.deadlineAtMs);
    this.recordSlab = grown(Int32Array, this.recordSlab);
    this.recordAt = grown(Int32Array, this.recordAt);
    this.capacity = capacity;
    this.freeHead = NO_JOB;
    for (let slot = capacity - 1; slot >= 0; slot--) {
      if (this.state[slot] !== StateCode.Free) continue;
      this.next[slot] = this.freeHead;
      this.freeHead = slot;
    }
  }
}

/** `body` with its CRLF in a Buffer that owns its whole ArrayBuffer (a view would pin its parent). */
function ownedBody(body: Buffer, addCrlf: boolean): Buffer {
  if (!addCrlf && body.byteOffset === 0 && body.buffer.byteLength === body.length) return body;
  const copy = Buffer.allocUnsafeSlow(body.length + (addCrlf ? 2 : 0));
  body.copy(copy);
  if (addCrlf) copy.write('\r\n', body.length, 'latin1');
  return copy;
}
