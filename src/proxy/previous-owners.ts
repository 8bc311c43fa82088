/**
 * Finds the previous owners of tubes (routing.ts) by asking the nodes what they hold: on each live
 * node, `list-tubes`, then `stats-tube` for every tube that node does not own (few: the tubes of a
 * recent topology change, `default`, and those a migration has not emptied yet). A tube whose
 * ready + reserved + delayed + buried jobs on a node it does not own add up to more than zero makes
 * that node a previous owner; at zero it stops being one. Works the same on stock beanstalkd nodes
 * (plain commands, counted as the proxy's overhead in merged stats).
 *
 * Runs on every topology change (before the new routing is used: reload.ts) and every
 * `intervalMs`. A node that is down or does not answer keeps what the last scan found on it: its
 * jobs are not forgotten because it was unreachable for a moment.
 */
import type { Timers } from '../net/timers';
import { readYamlList, readYamlMap } from '../protocol/yaml';
import type { NodePool } from './node/node-pool';
import type { Shard } from './node/shard';
import type { Placement } from './ring';
import type { PreviousOwners, Routing } from './routing';
import { PARKING_TUBE } from './session/node-sync';

/** Default period of the scan, ms. */
export const DEFAULT_SCAN_INTERVAL_MS = 1000;
/** stats-tube requests in flight per node during a scan. */
const STATS_BATCH = 64;
const JOB_COUNT_KEYS = [
  'current-jobs-ready',
  'current-jobs-reserved',
  'current-jobs-delayed',
  'current-jobs-buried',
] as const;

/** Jobs a `stats` or `stats-tube` map counts: ready + reserved + delayed + buried. */
export function jobsOf(stats: Record<string, string>): number {
  return JOB_COUNT_KEYS.reduce((sum, key) => sum + Number(stats[key] ?? 0), 0);
}

/** What one scan found. */
export interface ScanResult {
  previous: Map<string, number[]>;
  /** Jobs on nodes that do not own their tube, per node index (nodes that answered). */
  jobsOffOwner: Map<number, number>;
  /** Nodes that did not answer (their entries were carried over). */
  unanswered: number[];
}

/** Jobs held on `link` of tubes it does not own under `placement`: tube → count; null: no answer. */
async function jobsNotOwned(link: Shard, placement: Placement): Promise<Map<string, number> | null> {
  const listed = await link.controlRequest({ op: 'list-tubes' });
  if (!listed?.body) return null;
  const index = link.node.index;
  const foreign = readYamlList(listed.body).filter(
    (t) => t !== PARKING_TUBE && placement.ownerOf(t).index !== index,
  );
  const held = new Map<string, number>();
  for (let at = 0; at < foreign.length; at += STATS_BATCH) {
    const batch = foreign.slice(at, at + STATS_BATCH);
    const replies = await Promise.all(batch.map((tube) => link.controlRequest({ op: 'stats-tube', tube })));
    for (const [i, reply] of replies.entries()) {
      if (reply === null) return null;
      if (reply.word !== 'OK' || !reply.body) continue; // NOT_FOUND: the tube went meanwhile
      const jobs = jobsOf(readYamlMap(reply.body));
      if (jobs > 0) held.set(batch[i] as string, jobs);
    }
  }
  return held;
}

/** One pass over the pool's nodes under `placement`; `carry` supplies what a silent node held. */
export async function scanPreviousOwners(
  pool: NodePool,
  placement: Placement,
  carry: PreviousOwners,
): Promise<ScanResult> {
  const links = pool.all();
  const answers = await Promise.all(links.map((l) => (l.up ? jobsNotOwned(l, placement) : null)));
  const sets = new Map<string, Set<number>>();
  const add = (tube: string, index: number): void => {
    if (placement.ownerOf(tube).index === index) return;
    let set = sets.get(tube);
    if (!set) sets.set(tube, (set = new Set()));
    set.add(index);
  };
  const result: ScanResult = { previous: new Map(), jobsOffOwner: new Map(), unanswered: [] };
  for (const [i, link] of links.entries()) {
    const index = link.node.index;
    const held = answers[i];
    if (held === null || held === undefined) {
      result.unanswered.push(index);
      for (const [tube, list] of carry) if (list.includes(index)) add(tube, index);
      continue;
    }
    let total = 0;
    for (const [tube, jobs] of held) {
      add(tube, index);
      total += jobs;
    }
    result.jobsOffOwner.set(index, total);
  }
  for (const [tube, set] of sets)
    result.previous.set(
      tube,
      [...set].sort((a, b) => a - b),
    );
  return result;
}

/** Keeps `routing`'s previous owners current: a scan every `intervalMs`, and on demand. */
export class PreviousOwnerScanner {
  private timer: unknown = null;
  private running: Promise<ScanResult> | null = null;
  private closed = false;
  /** The last complete scan (metrics). */
  last: ScanResult | null = null;

  constructor(
    private readonly routing: Routing,
    private readonly pool: NodePool,
    private readonly intervalMs: number,
    private readonly timers: Timers,
  ) {}

  start(): void {
    this.schedule();
  }

  /** Scans now (after a scan already running) and applies the result to the routing. */
  refresh(): Promise<ScanResult> {
    return this.exclusive(async () => {
      const result = await scanPreviousOwners(
        this.pool,
        this.routing.placement,
        this.routing.previousOwners(),
      );
      if (!this.closed) this.routing.setPrevious(result.previous);
      return result;
    });
  }

  /**
   * A topology change: scans under the new `placement` first, then routes by it with what the scan
   * found, so no moment passes where a tube's jobs on its old owner are unknown. A job put on an old
   * owner between that scan and the swap is found by the scan that follows at once.
   */
  async switchTo(placement: Placement): Promise<void> {
    await this.exclusive(async () => {
      const carry = this.routing.previousOwners();
      const result = await scanPreviousOwners(this.pool, placement, carry);
      if (!this.closed) this.routing.swap(placement, result.previous);
      return result;
    });
    await this.refresh();
  }

  private async exclusive(work: () => Promise<ScanResult>): Promise<ScanResult> {
    while (this.running) await this.running.catch(() => null);
    const run = work();
    this.running = run;
    try {
      const result = await run;
      this.last = result;
      return result;
    } finally {
      this.running = null;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) this.timers.clear(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.refresh()
        .catch(() => null)
        .then(() => this.schedule());
    }, this.intervalMs);
  }
}
