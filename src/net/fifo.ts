/**
 * First-in first-out queue with O(1) push and shift (Array#shift is O(n) once V8 leaves its fast
 * path for large arrays). The one in-flight queue of the project: the client's requests awaiting
 * replies, a proxy node connection's, and a proxy session's reply slots (which also reads entries
 * by position and cuts the tail).
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  /** The entry `i` places behind the head (0 = the head). */
  at(i: number): T | undefined {
    return i < 0 ? undefined : this.items[this.head + i];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    // Compact once the consumed prefix dominates, so memory stays proportional to what is queued.
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Keeps the first `length` entries, drops the rest. */
  truncate(length: number): void {
    if (length < this.length) this.items.length = this.head + Math.max(0, length);
  }

  /** Removes and returns everything queued, oldest first. */
  drain(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return rest;
  }
}
