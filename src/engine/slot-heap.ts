/**
 * IndexedHeap (heap.ts) for job slots: the items live in an Int32Array, so a heap of a million
 * jobs is 4 MB outside the JS heap — no array of references for the GC to scan or to promote out
 * of the young generation each time it grows. Each slot's position is kept in a job-table column
 * through getIndex/setIndex, so any job can be removed or re-keyed in O(log n).
 */

const MIN_CAPACITY = 8;

export class SlotHeap {
  private items = new Int32Array(MIN_CAPACITY);
  size = 0;

  /** The slot at heap position i (0 ≤ i < size), for scans that need every member. */
  slotAt(i: number): number {
    return this.items[i]!;
  }

  constructor(
    private readonly less: (a: number, b: number) => boolean,
    private readonly setIndex: (slot: number, index: number) => void,
    private readonly getIndex: (slot: number) => number,
  ) {}

  /** The top slot, or -1 when empty. */
  peek(): number {
    return this.size > 0 ? this.items[0]! : -1;
  }

  push(slot: number): void {
    if (this.size === this.items.length) this.resize(this.items.length * 2);
    this.items[this.size] = slot;
    this.setIndex(slot, this.size);
    this.size++;
    this.siftUp(this.size - 1);
  }

  /** Removes and returns the top slot, or -1 when empty. */
  pop(): number {
    const top = this.peek();
    if (top >= 0) this.removeAt(0);
    return top;
  }

  /** Removes `slot` if it is in this heap (position recorded and matching). */
  remove(slot: number): boolean {
    if (!this.has(slot)) return false;
    this.removeAt(this.getIndex(slot));
    return true;
  }

  has(slot: number): boolean {
    const i = this.getIndex(slot);
    return i >= 0 && i < this.size && this.items[i] === slot;
  }

  /** Restores order after `slot`'s key changed. */
  update(slot: number): void {
    if (!this.has(slot)) return;
    const i = this.getIndex(slot);
    if (!this.siftUp(i)) this.siftDown(i);
  }

  /** The job at position `index` moved to slot `slot` (its position column already copied). */
  replaceAt(index: number, slot: number): void {
    this.items[index] = slot;
  }

  /** Slots in heap order (not sorted); a copy, for snapshots and tests. */
  values(): number[] {
    return Array.from(this.items.subarray(0, this.size));
  }

  private removeAt(i: number): void {
    const items = this.items;
    const removed = items[i]!;
    this.size--;
    const last = items[this.size]!;
    this.setIndex(removed, -1);
    if (i < this.size) {
      items[i] = last;
      this.setIndex(last, i);
      if (!this.siftUp(i)) this.siftDown(i);
    }
    if (this.size * 4 < items.length && items.length > MIN_CAPACITY) this.resize(items.length / 2);
  }

  private resize(capacity: number): void {
    const items = new Int32Array(capacity);
    items.set(this.items.subarray(0, this.size));
    this.items = items;
  }

  private siftUp(i: number): boolean {
    const items = this.items;
    const slot = items[i]!;
    const start = i;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex]!;
      if (!this.less(slot, parent)) break;
      items[i] = parent;
      this.setIndex(parent, i);
      i = parentIndex;
    }
    items[i] = slot;
    this.setIndex(slot, i);
    return i !== start;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const n = this.size;
    const slot = items[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(items[right]!, items[left]!)) child = right;
      const childSlot = items[child]!;
      if (!this.less(childSlot, slot)) break;
      items[i] = childSlot;
      this.setIndex(childSlot, i);
      i = child;
    }
    items[i] = slot;
    this.setIndex(slot, i);
  }
}
