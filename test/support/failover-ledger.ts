/**
 * The ledger of issue 17's fault test: every put and delete a client sent through a proxy and
 * what it was told, every delivery, and every fault, then the accounting at the end — acknowledged
 * puts delivered, acknowledged deletes never back, no id for two jobs, duplicates only for jobs
 * reserved when a fault struck, every job whose delete was refused (NOT_FOUND: its reservation ended
 * at a fault) delivered again — and when writes to a shard resumed or paused.
 */

export interface PutRecord {
  body: string;
  shard: number;
  sentAtMs: number;
  answeredAtMs: number;
  /** The client id of an INSERTED, else null (INTERNAL_ERROR, connection lost). */
  id: number | null;
}

export interface Delivery {
  body: string;
  id: number;
  /** When the consumer sent the reserve: the node reserved the job between this and atMs. */
  reserveSentAtMs: number;
  atMs: number;
  /** The delete of this delivery was acknowledged (DELETED) at this time. */
  deletedAtMs: number | null;
  /** The delete answered NOT_FOUND: the reservation ended at a fault (docs/failover.md). */
  deleteRefused?: boolean;
}

export interface Fault {
  kind: 'kill-primary' | 'kill-standby' | 'kill-proxy' | 'cut-primary';
  shard: number | null;
  atMs: number;
}

export interface LedgerReport {
  acknowledgedPuts: number;
  lost: string[];
  resurrected: string[];
  idsGivenTwice: number[];
  /** Jobs delivered more than once; each was reserved (not yet deleted) when a fault struck. */
  duplicates: number;
  duplicatesNotAtFault: string[];
  /** Deletes answered NOT_FOUND (their holder lost the reservation at a fault). */
  refusedDeletes: number;
  /** Jobs whose delete was refused and that no consumer got again: still held somewhere. */
  refusedNotRedelivered: string[];
}

export class FailoverLedger {
  readonly puts: PutRecord[] = [];
  readonly deliveries: Delivery[] = [];
  readonly faults: Fault[] = [];
  /** When the producers were told to stop (drain). */
  drainStartedAtMs: number | null = null;

  fault(kind: Fault['kind'], shard: number | null): Fault {
    const f = { kind, shard, atMs: Date.now() };
    this.faults.push(f);
    return f;
  }

  /** The first put to `shard` sent at or after `sinceMs` that was acknowledged, or undefined. */
  resumedAfter(shard: number, sinceMs: number): PutRecord | undefined {
    return this.puts.find((p) => p.shard === shard && p.id !== null && p.sentAtMs >= sinceMs);
  }

  /** The longest time between two acknowledged puts to `shard` within [fromMs, toMs]. */
  longestGapMs(shard: number, fromMs: number, toMs: number): number {
    const times = this.puts
      .filter((p) => p.shard === shard && p.id !== null && p.answeredAtMs >= fromMs && p.answeredAtMs <= toMs)
      .map((p) => p.answeredAtMs)
      .sort((a, b) => a - b);
    let gap = 0;
    let last = fromMs;
    for (const t of [...times, toMs]) {
      gap = Math.max(gap, t - last);
      last = t;
    }
    return gap;
  }

  report(): LedgerReport {
    const acked = this.puts.filter((p) => p.id !== null);
    const byBody = new Map<string, Delivery[]>();
    for (const d of this.deliveries) byBody.set(d.body, [...(byBody.get(d.body) ?? []), d]);
    const idBody = new Map<number, string>();
    const idsGivenTwice = new Set<number>();
    const claim = (id: number, body: string): void => {
      const other = idBody.get(id);
      if (other !== undefined && other !== body) idsGivenTwice.add(id);
      idBody.set(id, body);
    };
    for (const p of acked) claim(p.id as number, p.body);
    for (const d of this.deliveries) claim(d.id, d.body);
    const resurrected: string[] = [];
    const duplicatesNotAtFault: string[] = [];
    let duplicates = 0;
    for (const [body, list] of byBody) {
      const firstDelete = list.find((d) => d.deletedAtMs !== null)?.deletedAtMs ?? null;
      if (firstDelete !== null && list.some((d) => d.atMs > firstDelete)) resurrected.push(body);
      if (list.length < 2) continue;
      duplicates++;
      // Each redelivery follows a fault that struck while the earlier delivery was held: after its
      // reserve was sent (the node may reserve the job before a fault and its RESERVED reach the
      // consumer well after, on a loaded machine), before the job came again.
      for (let i = 1; i < list.length; i++) {
        const before = list[i - 1] as Delivery;
        const again = list[i] as Delivery;
        if (!this.faults.some((f) => f.atMs >= before.reserveSentAtMs && f.atMs <= again.atMs)) {
          duplicatesNotAtFault.push(body);
        }
      }
    }
    const refused = this.deliveries.filter((d) => d.deleteRefused);
    return {
      refusedDeletes: refused.length,
      refusedNotRedelivered: refused
        .filter((d) => !(byBody.get(d.body) ?? []).some((again) => again.atMs > d.atMs))
        .map((d) => d.body),
      acknowledgedPuts: acked.length,
      lost: acked.filter((p) => !byBody.has(p.body)).map((p) => p.body),
      resurrected,
      idsGivenTwice: [...idsGivenTwice],
      duplicates,
      duplicatesNotAtFault,
    };
  }
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
