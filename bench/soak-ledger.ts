/**
 * The soak's bookkeeping (bench/soak.ts): every put sent, every delivery (RESERVED) and how each
 * delivery ended, node kills — and the rules that make a run fail:
 *
 *   - lost: a put was acknowledged (INSERTED) but no worker ever received the job;
 *   - came back: a job was delivered after its delete was acknowledged;
 *   - held twice: a job was delivered again while an earlier delivery was still held, and that
 *     earlier holder then deleted it — two workers had it at once — unless its TTR had expired by
 *     the redelivery or its node was killed while the earlier holder had it (then the node may
 *     have handed it on, and the earlier holder's delete may have found it ready again). A release
 *     or bury frees the job before its reply leaves, so a worker waiting in reserve may get it
 *     before the releasing worker hears RELEASED: no violation;
 *   - deleted twice, or a delivered body that no producer sent.
 *
 * A redelivery is legitimate after a release or bury (+ kick), after a TTR expiry, or when the
 * earlier holder lost the job (its node was killed, its connection failed: INTERNAL_ERROR,
 * NOT_FOUND): those are counted by cause, not failed.
 */

export type Outcome = 'deleted' | 'released' | 'buried' | 'touched' | 'lost-hold';

interface Delivery {
  atMs: number;
  /** When a later delivery of the same job arrived while this one was still held. */
  supersededAtMs: number | null;
}

interface JobRecord {
  node: number;
  ttrSecs: number;
  acked: boolean;
  deliveries: number;
  /** Deliveries whose outcome has not arrived yet, by delivery number. */
  open: Map<number, Delivery>;
  /** How the latest finished delivery ended (for redelivery causes). */
  lastOutcome: Outcome | null;
  deleted: boolean;
}

/** A delivery's TTR counts as expired from ttr − this (the node's clock and ours differ slightly). */
const TTR_SLACK_MS = 250;

export class SoakLedger {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly kills: Array<{ node: number; atMs: number }> = [];
  readonly violations: string[] = [];
  readonly counts = {
    putsSent: 0,
    putsAcked: 0,
    putsFailed: 0,
    deliveries: 0,
    deletes: 0,
    redeliveredAfterRelease: 0,
    redeliveredAfterTtr: 0,
    redeliveredAfterLoss: 0,
    unackedDelivered: 0,
  };

  putSent(body: string, node: number, ttrSecs: number): void {
    this.counts.putsSent++;
    this.jobs.set(body, {
      node,
      ttrSecs,
      acked: false,
      deliveries: 0,
      open: new Map(),
      lastOutcome: null,
      deleted: false,
    });
  }

  putAcked(body: string): void {
    const rec = this.jobs.get(body);
    if (!rec) return;
    rec.acked = true;
    this.counts.putsAcked++;
  }

  putFailed(): void {
    this.counts.putsFailed++;
  }

  nodeKilled(node: number, atMs: number): void {
    this.kills.push({ node, atMs });
  }

  /** A worker received the job; returns the delivery number to report its outcome with. */
  delivered(body: string, nowMs: number): number {
    this.counts.deliveries++;
    const rec = this.jobs.get(body);
    if (!rec) {
      this.violation(`delivered a body no producer sent: ${JSON.stringify(body.slice(0, 40))}`);
      return 0;
    }
    if (rec.deleted) this.violation(`${body} delivered after its delete was acknowledged`);
    if (rec.deliveries > 0) this.countRedelivery(rec, nowMs);
    for (const d of rec.open.values()) d.supersededAtMs ??= nowMs;
    rec.deliveries++;
    rec.open.set(rec.deliveries, { atMs: nowMs, supersededAtMs: null });
    return rec.deliveries;
  }

  /** How delivery `n` of `body` ended. */
  outcome(body: string, n: number, outcome: Outcome): void {
    const rec = this.jobs.get(body);
    const d = rec?.open.get(n);
    if (!rec || !d) return;
    rec.open.delete(n);
    if (n === rec.deliveries) rec.lastOutcome = outcome;
    if (outcome === 'deleted') {
      this.counts.deletes++;
      if (rec.deleted) this.violation(`${body} deleted twice`);
      rec.deleted = true;
    }
    if (d.supersededAtMs === null || this.expired(rec, d)) return;
    // Redelivered while this delivery was held, within its TTR: its outcome says why.
    if (outcome === 'released' || outcome === 'buried') this.counts.redeliveredAfterRelease++;
    else if (outcome === 'lost-hold' || this.killedBetween(rec.node, d.atMs, Date.now()))
      this.counts.redeliveredAfterLoss++;
    else {
      this.violation(
        `${body} held by two workers at once (redelivered ${d.supersededAtMs - d.atMs} ms into a ${rec.ttrSecs} s TTR, then ${outcome} by the first)`,
      );
    }
  }

  private expired(rec: JobRecord, d: Delivery): boolean {
    return (d.supersededAtMs ?? d.atMs) - d.atMs >= rec.ttrSecs * 1000 - TTR_SLACK_MS;
  }

  /** After the final drain: every acknowledged put must have been delivered. */
  finalCheck(): void {
    let lost = 0;
    for (const [body, rec] of this.jobs) {
      if (!rec.acked && rec.deliveries > 0) this.counts.unackedDelivered++;
      if (!rec.acked || rec.deliveries > 0) continue;
      if (++lost <= 20) this.violation(`${body}: acknowledged put never delivered`);
    }
    if (lost > 20) this.violation(`… ${lost} acknowledged puts never delivered in all`);
  }

  private countRedelivery(rec: JobRecord, nowMs: number): void {
    const held = [...rec.open.values()];
    if (held.length === 0) {
      if (rec.lastOutcome === 'released' || rec.lastOutcome === 'buried')
        this.counts.redeliveredAfterRelease++;
      else this.counts.redeliveredAfterLoss++;
      return;
    }
    const oldest = Math.min(...held.map((d) => d.atMs));
    if (nowMs - oldest >= rec.ttrSecs * 1000 - TTR_SLACK_MS) this.counts.redeliveredAfterTtr++;
    // Otherwise it is counted (or failed) when the earlier holder's outcome arrives.
  }

  private killedBetween(node: number, fromMs: number, toMs: number): boolean {
    return this.kills.some((k) => k.node === node && k.atMs >= fromMs && k.atMs <= toMs);
  }

  private violation(text: string): void {
    if (this.violations.length < 200) this.violations.push(text);
  }
}
