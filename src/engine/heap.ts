/**
 * Binary min-heap that records each item's position in the item itself, so any item can be removed
 * or re-keyed in O(log n) (beanstalkd's heap.c does the same with `heap_index`). The position field
 * is reached through `getIndex`/`setIndex` so one object may sit in heaps of different roles.
 */
export class IndexedHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly setIndex: (item: T, index: number) => void,
    private readonly getIndex: (item: T) => number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.setIndex(item, this.items.length - 1);
    this.siftUp(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes `item` if it is in this heap (position recorded and matching). */
  remove(item: T): boolean {
    const i = this.getIndex(item);
    if (i < 0 || this.items[i] !== item) return false;
    this.removeAt(i);
    return true;
  }

  has(item: T): boolean {
    const i = this.getIndex(item);
    return i >= 0 && this.items[i] === item;
  }

  /** Restores order after `item`'s key changed. */
  update(item: T): void {
    const i = this.getIndex(item);
    if (i < 0 || this.items[i] !== item) return;
    if (!this.siftUp(i)) this.siftDown(i);
  }

  /** Items in heap order (not sorted); for snapshots and tests. */
  values(): readonly T[] {
    return this.items;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const removed = items[i] as T;
    const last = items.pop() as T;
    this.setIndex(removed, -1);
    if (i === items.length) return;
    items[i] = last;
    this.setIndex(last, i);
    if (!this.siftUp(i)) this.siftDown(i);
  }

  private siftUp(i: number): boolean {
    const items = this.items;
    const item = items[i] as T;
    const start = i;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (!this.less(item, parent)) break;
      items[i] = parent;
      this.setIndex(parent, i);
      i = parentIndex;
    }
    items[i] = item;
    this.setIndex(item, i);
    return i !== start;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i] as T;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(items[right] as T, items[left] as T)) child = right;
      const childItem = items[child] as T;
      if (!this.less(childItem, item)) break;
      items[i] = childItem;
      this.setIndex(childItem, i);
      i = child;
    }
    items[i] = item;
    this.setIndex(item, i);
  }
}
