/**
 * Job id → slot. Open addressing with linear probing in one Int32Array (slot + 1; 0 = empty); the
 * key of an entry is read back from the job table (`idOf`), so an entry costs 4 bytes / load
 * factor — a Map<number, …> costs ~29 bytes an entry and its growth churns the young generation.
 *
 * Ids are integers below 2^53; Fibonacci hashing of their two 32-bit halves spreads consecutive ids
 * over the table. The load stays within (1/8, 3/4]: past 3/4 the table doubles, under 1/8 it halves
 * (never below MIN_CAPACITY). Removal shifts later entries of the run back (no tombstones).
 */
import { invariant } from './invariant';

const MIN_CAPACITY = 16;
const TWO_32 = 4294967296;

export class IdIndex {
  private table = new Int32Array(MIN_CAPACITY);
  private shift = 32 - Math.log2(MIN_CAPACITY);
  size = 0;

  constructor(private readonly idOf: (slot: number) => number) {}

  get capacity(): number {
    return this.table.length;
  }

  /** The slot of `id`, or -1. */
  get(id: number): number {
    const table = this.table;
    const mask = table.length - 1;
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return -1;
      if (this.idOf(entry - 1) === id) return entry - 1;
    }
  }

  /** Adds `id` (not present) at `slot`. */
  add(id: number, slot: number): void {
    if ((this.size + 1) * 4 > this.table.length * 3) this.resize(this.table.length * 2);
    this.place(id, slot);
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
    // Shift back every later entry of the run that may not sit past the hole.
    for (let i = (hole + 1) & mask; table[i] !== 0; i = (i + 1) & mask) {
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
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      const entry = table[i]!;
      if (entry === 0) return -1;
      if (this.idOf(entry - 1) === id) return i;
    }
  }

  private place(id: number, slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.home(id);
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  private home(id: number): number {
    const mixed = (id >>> 0) ^ Math.imul((id / TWO_32) >>> 0, 0x85ebca6b);
    return Math.imul(mixed, 0x9e3779b1) >>> this.shift;
  }

  private resize(capacity: number): void {
    const old = this.table;
    this.table = new Int32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    for (const entry of old) if (entry !== 0) this.place(this.idOf(entry - 1), entry - 1);
  }
}
