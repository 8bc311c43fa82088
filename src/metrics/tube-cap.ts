/**
 * Bounded per-tube cardinality: which tubes get series in a scrape. Allowlisted tubes always do;
 * of the rest, the `cap` heaviest (by the caller's weight, e.g. jobs held) do; ties keep list
 * order. Cost: one pass with a size-`cap` min-heap, O(T log cap) — with T = 10 000 tubes and
 * cap = 100 that is ~10 000 weight reads and a few thousand heap steps per scrape, well under 1 ms.
 */

export interface TubeCap {
  /** Tubes beyond the allowlist that may get series (0 = allowlist only). */
  maxTubes: number;
  /** Tubes always exported while they exist (do not count toward maxTubes). */
  allow: ReadonlySet<string>;
}

export const DEFAULT_MAX_TUBES = 100;

export interface CapResult<T> {
  selected: T[];
  /** Candidates left out. */
  dropped: number;
}

interface Entry<T> {
  item: T;
  weight: number;
  order: number;
}

/** True when a should be evicted before b (lighter, or as heavy but later in the list). */
function lighter<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.weight < b.weight || (a.weight === b.weight && a.order > b.order);
}

export function capTubes<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  weightOf: (item: T) => number,
  cap: TubeCap,
): CapResult<T> {
  const selected: T[] = [];
  const heap: Entry<T>[] = [];
  let candidates = 0;
  for (let order = 0; order < items.length; order++) {
    const item = items[order] as T;
    if (cap.allow.has(nameOf(item))) {
      selected.push(item);
      continue;
    }
    candidates++;
    if (cap.maxTubes === 0) continue;
    const weight = weightOf(item);
    if (heap.length < cap.maxTubes) {
      heap.push({ item, weight, order });
      siftUp(heap, heap.length - 1);
    } else if ((heap[0] as Entry<T>).weight < weight) {
      // Strictly heavier only: an equal weight arrives later in list order, so it loses the tie.
      heap[0] = { item, weight, order };
      siftDown(heap, 0);
    }
  }
  heap.sort((a, b) => b.weight - a.weight || a.order - b.order);
  for (const e of heap) selected.push(e.item);
  return { selected, dropped: candidates - heap.length };
}

function siftUp<T>(heap: Entry<T>[], i: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!lighter(heap[i] as Entry<T>, heap[parent] as Entry<T>)) return;
    swap(heap, i, parent);
    i = parent;
  }
}

function siftDown<T>(heap: Entry<T>[], i: number): void {
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let least = i;
    if (left < heap.length && lighter(heap[left] as Entry<T>, heap[least] as Entry<T>)) least = left;
    if (right < heap.length && lighter(heap[right] as Entry<T>, heap[least] as Entry<T>)) least = right;
    if (least === i) return;
    swap(heap, i, least);
    i = least;
  }
}

function swap<T>(heap: T[], i: number, j: number): void {
  const t = heap[i] as T;
  heap[i] = heap[j] as T;
  heap[j] = t;
}
