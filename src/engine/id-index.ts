/**
 * Job id → slot. Open addressing with linear probing in one Int32Array (slot + 1; 0 = empty); the
 * key of an entry is read back from the job table (`idOf`), so an entry costs 4 bytes / load
 * factor — a Map<number, …> costs ~29 bytes an entry and its growth churns the young generation.
 *
 * Where an id goes: ids are handed out in order, so the live ones are mostly a window of the id
 * space, and placing an id by its low bits (id mod capacity) puts consecutive ids side by side —
 * a put touches the cache line and page the previous one did. Hashing every id to a random entry
 * of a table of megabytes cost a cache and TLB miss per put, in the engine's index and the
 * binlog's (~0.6 µs of a pipelined put, issue 18). Odd strides (nodes behind a proxy) spread the
 * same way; a power-of-two stride k puts up to 3k/4 ids on a run of k entries.
 * Low bits are a poor hash for other patterns (old jobs whose ids wrap onto the window's, a client
 * keeping every 4096th job): when an id would land more than LONG_RUN entries past its home, the
 * table is rebuilt with Fibonacci hashing of both 32-bit halves of the id (random spread) until its
 * next resize, which tries low bits again. Either way the table knows the longest distance of an
 * entry from its home (`reach`): lookups and removals look no further, so an absent id costs at
 * most that many probes, not a walk over a run of consecutive ids.
 *
 * The load stays within (1/8, 3/4]: past 3/4 the table doubles, under 1/8 it halves (never below
 * MIN_CAPACITY). Removal shifts later entries of the run back (no tombstones).
 */
import { invariant } from './invariant';

const MIN_CAPACITY = 16;
const TWO_32 = 4294967296;
/** Past this distance from its home, an id placed by its low bits makes the table hash instead. */
const LONG_RUN = 32;

export class IdIndex {
  private table = new Int32Array(MIN_CAPACITY);
  private shift = 32 - Math.log2(MIN_CAPACITY);
  /** Fibonacci hashing instead of low bits (see the header). */
  private hashed = false;
  /** No entry sits further than this from its home. */
  private reach = 0;
  size = 0;

  constructor(private readonly idOf: (slot: number) => number) {}

  get capacity(): number {
    return this.table.length;
  }

  /** True while ids are placed by Fibonacci hashing (a pattern defeated low bits). */
  get hashing(): boolean {
    return this.hashed;
  }

  /** The slot of `id`, or -1. */
  get(id: number): number {
    const i = this.find(id);
    return i < 0 ? -1 : this.table[i]! - 1;
  }

  /** Adds `id` (not present) at `slot`. */
  add(id: number, slot: number): void {
    if ((this.size + 1) * 4 > this.table.length * 3) this.resize(this.table.length * 2);
    if (!this.place(id, slot)) {
      this.rebuild(this.table.length, true);
      this.place(id, slot);
    }
    this.size++;
  }

  /** `id` (present) now lives at `slot`. */
  move(id: number, slot: number): void {
    const i = this.find(id);
    invariant(i >= 0, `id ${id} not indexed`);
    this.table[i] = slot + 1;
  }

  /** Removes `id` (present). */
  delete(id: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let hole = this.find(id);
    invariant(hole >= 0, `id ${id} not indexed`);
    // Shift back every later entry of the run that may not sit past the hole. None further than
    // `reach` from the hole can: its home is after the hole.
    for (let i = (hole + 1) & mask; table[i] !== 0 && ((i - hole) & mask) <= this.reach; i = (i + 1) & mask) {
      const home = this.home(this.idOf(table[i]! - 1));
      const reachable = hole <= i ? home <= hole || home > i : home <= hole && home > i;
      if (reachable) {
        table[hole] = table[i]!;
        hole = i;
      }
    }
    table[hole] = 0;
    this.size--;
    if (this.size * 8 < table.length && table.length > MIN_CAPACITY) this.resize(table.length / 2);
  }

  private find(id: number): number {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.home(id);
    for (let distance = 0; distance <= this.reach; distance++, i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return -1;
      if (this.idOf(entry - 1) === id) return i;
    }
    return -1;
  }

  /** False (nothing placed) when low bits would put `id` past LONG_RUN. */
  private place(id: number, slot: number): boolean {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.home(id);
    let distance = 0;
    while (table[i] !== 0) {
      i = (i + 1) & mask;
      distance++;
    }
    if (distance > LONG_RUN && !this.hashed) return false;
    table[i] = slot + 1;
    if (distance > this.reach) this.reach = distance;
    return true;
  }

  private home(id: number): number {
    if (!this.hashed) return (id >>> 0) & (this.table.length - 1);
    const mixed = (id >>> 0) ^ Math.imul((id / TWO_32) >>> 0, 0x85ebca6b);
    return Math.imul(mixed, 0x9e3779b1) >>> this.shift;
  }

  /** A new size tries low bits again. */
  private resize(capacity: number): void {
    this.rebuild(capacity, false);
  }

  private rebuild(capacity: number, hashed: boolean): void {
    const old = this.table;
    this.table = new Int32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    this.hashed = hashed;
    this.reach = 0;
    for (const entry of old) {
      if (entry === 0) continue;
      if (!this.place(this.idOf(entry - 1), entry - 1)) {
        this.table = old;
        this.rebuild(capacity, true);
        return;
      }
    }
  }
}
