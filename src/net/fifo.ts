/**
 * First-in first-out queue with O(1) push and shift (Array#shift is O(n) once V8 leaves its fast
 * path for large arrays). The one in-flight queue of the project: the client's requests awaiting
 * replies, a proxy node connection's, and a proxy session's reply slots (which also reads entries
 * by position and cuts the tail).
 *
 * Entries live in `items[head, tail)`. A queue that empties keeps its array when it is small: a
 * client with one request in flight empties its queues on every reply, and a new array each time
 * (grown again by the next push) was a few hundred bytes of garbage a proxied request. A large one
 * is let go, so memory stays proportional to what is queued.
 */
const KEEP_CAPACITY = 1024;

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  /** The entry `i` places behind the head (0 = the head). */
  at(i: number): T | undefined {
    return i < 0 || i >= this.tail - this.head ? undefined : this.items[this.head + i];
  }

  shift(): T | undefined {
    if (this.head >= this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.tail) this.reset();
    else if (this.head >= KEEP_CAPACITY && this.head * 2 >= this.tail) {
      // The consumed prefix dominates: move what is queued to the front.
      this.items = this.items.slice(this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return item;
  }

  /** Keeps the first `length` entries, drops the rest. */
  truncate(length: number): void {
    const end = this.head + Math.max(0, length);
    if (end >= this.tail) return;
    this.items.fill(undefined, end, this.tail);
    this.tail = end;
    if (this.head === this.tail) this.reset();
  }

  /** Removes and returns everything queued, oldest first. */
  drain(): T[] {
    const rest = this.items.slice(this.head, this.tail) as T[];
    this.items.fill(undefined, this.head, this.tail);
    this.reset();
    return rest;
  }

  /** Empty: the array is kept (its entries are all undefined) unless it grew large. */
  private reset(): void {
    if (this.items.length > KEEP_CAPACITY) this.items = [];
    this.head = 0;
    this.tail = 0;
  }
}
