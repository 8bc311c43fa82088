/**
 * Each node's puts and reserves over the last minutes, for the dashboard's balance panel: a share
 * bar per node (its part of the cluster's puts, reserves and jobs) and a sparkline of its rates.
 *
 * The collector records, per node and per poll, how many jobs were put (Δcmd-put) and taken
 * (the reserve estimate of snapshot.ts) since the previous poll, at the poll's time. Counts go
 * into fixed buckets of `bucketMs` (bucket = floor(atMs / bucketMs)); each node keeps the last
 * `buckets` of them in a ring, so memory is bounded whatever the uptime, and a bucket older than
 * the window is overwritten rather than kept. A reading that spans more than two buckets (nobody
 * watched the page for a while, so nothing was polled) is not recorded: its jobs would all land
 * in one bucket as a spike that never happened. Times are the caller's (the poll's clock), so
 * tests drive it with any clock they like.
 */

export interface HistoryOptions {
  bucketMs: number;
  buckets: number;
}

/** 60 buckets of 5 s: the last five minutes. */
export const DEFAULT_HISTORY: HistoryOptions = { bucketMs: 5000, buckets: 60 };

/** Counts per bucket, oldest first, the last one being the bucket of `nowMs`. */
export interface NodeSeries {
  puts: number[];
  reserves: number[];
}

/** A node's part of the cluster's total, in percent to one decimal; null when the total is 0. */
export function sharesOf(values: ReadonlyMap<string, number>): Map<string, number | null> {
  let total = 0;
  for (const v of values.values()) total += v;
  const out = new Map<string, number | null>();
  for (const [key, v] of values) out.set(key, total > 0 ? Math.round((v * 1000) / total) / 10 : null);
  return out;
}

class CountRing {
  private readonly counts: number[];
  private readonly bucketOf: number[];

  constructor(size: number) {
    this.counts = new Array<number>(size).fill(0);
    this.bucketOf = new Array<number>(size).fill(-1);
  }

  add(bucket: number, n: number): void {
    const slot = bucket % this.counts.length;
    if (this.bucketOf[slot] !== bucket) {
      this.bucketOf[slot] = bucket;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] as number) + n;
  }

  /** The `counts.length` buckets ending with `last`, oldest first (0 for a bucket never filled). */
  window(last: number): number[] {
    const size = this.counts.length;
    const out: number[] = [];
    for (let b = last - size + 1; b <= last; b++) {
      const slot = ((b % size) + size) % size;
      out.push(this.bucketOf[slot] === b ? (this.counts[slot] as number) : 0);
    }
    return out;
  }
}

export class NodeHistory {
  private readonly nodes = new Map<string, { puts: CountRing; reserves: CountRing }>();

  constructor(readonly options: HistoryOptions = DEFAULT_HISTORY) {}

  /** `puts` and `reserves` happened in the `elapsedMs` before `atMs` on node `key`. */
  record(key: string, atMs: number, elapsedMs: number, puts: number, reserves: number): void {
    if (elapsedMs <= 0 || elapsedMs > 2 * this.options.bucketMs) return;
    let node = this.nodes.get(key);
    if (!node) {
      node = { puts: new CountRing(this.options.buckets), reserves: new CountRing(this.options.buckets) };
      this.nodes.set(key, node);
    }
    const bucket = Math.floor(atMs / this.options.bucketMs);
    node.puts.add(bucket, puts);
    node.reserves.add(bucket, reserves);
  }

  /** Every node's window ending with the bucket of `nowMs` (zeros for a node never recorded). */
  series(key: string, nowMs: number): NodeSeries {
    const last = Math.floor(nowMs / this.options.bucketMs);
    const node = this.nodes.get(key);
    const zeros = () => new Array<number>(this.options.buckets).fill(0);
    return node
      ? { puts: node.puts.window(last), reserves: node.reserves.window(last) }
      : { puts: zeros(), reserves: zeros() };
  }

  /** Forgets nodes no longer in the cluster. */
  keep(keys: ReadonlySet<string>): void {
    for (const key of this.nodes.keys()) if (!keys.has(key)) this.nodes.delete(key);
  }
}

/** Sum of a series (jobs in the window). */
export function totalOf(counts: readonly number[]): number {
  return counts.reduce((a, b) => a + b, 0);
}
