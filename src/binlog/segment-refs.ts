/**
 * What pins one segment (job-index.ts, import-keys.ts): how many refs — live job ids, import keys'
 * negative refs — have their latest records there, and those refs in the order they came, for
 * compaction to walk.
 *
 * The owner of a ref always knows which segments it pins, so pins are counted, not looked up: no
 * hash set of every live job per segment. That set was a tenth of a logged put's CPU (cache misses
 * in a table of a segment's worth of ids, its rehashing) and ~20 B a job (issue 18). A ref that
 * stopped pinning stays in the list until the segment goes (8 B a record written to it); walks skip
 * it, and skip it for good once every earlier entry is known stale.
 */
export class SegmentRefs {
  /** Refs pinning the segment now. */
  size = 0;
  private readonly list: number[] = [];
  /** Every entry before this one is known to pin no more: a walk starts here. */
  private stale = 0;

  /** `ref` pins the segment from now on (its owner knows it did not). */
  add(ref: number): void {
    this.size++;
    this.list.push(ref);
  }

  /** A ref that pinned the segment no longer does. True when nothing pins it any more. */
  release(): boolean {
    this.size--;
    return this.size === 0;
  }

  /**
   * Calls `visit` with each ref that still pins the segment (`pins` says), oldest first, until it
   * returns false. `visit` may release the ref it is given (compaction copies the job elsewhere).
   */
  walk(pins: (ref: number) => boolean, visit: (ref: number) => boolean): void {
    const list = this.list;
    for (let i = this.stale; i < list.length && this.size > 0; i++) {
      const ref = list[i]!;
      if (pins(ref)) {
        const more = visit(ref);
        if (pins(ref)) {
          if (!more) return;
          continue;
        }
        if (!more) {
          if (i === this.stale) this.stale++;
          return;
        }
      }
      if (i === this.stale) this.stale++;
    }
  }
}
