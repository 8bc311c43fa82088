/**
 * Clients of the fault test of issue 17: a producer puts into one tube through one proxy and
 * writes every answer to the ledger; a consumer reserves across all tubes through one proxy,
 * records each delivery and deletes it. Both reconnect when their proxy goes away. Puts are paced
 * (one per PUT_EVERY_MS per producer) so twelve processes share two cores; the pace is load
 * shaping, not synchronisation: every check waits for ledger entries.
 */
import type { Delivery, FailoverLedger } from './failover-ledger';
import { RawClient } from './proxy-harness';

const PUT_EVERY_MS = 15;
const RECONNECT_EVERY_MS = 50;
/**
 * Jobs' time-to-run, longer than the whole drain: a reservation that is neither handed to a client
 * nor given back (issue 17's lost delivery, docs/failover.md) would come back only after it and fail
 * the ledger instead of hiding in the drain.
 */
const TTR_SECS = 120;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connectUntil(port: number, running: () => boolean): Promise<RawClient | null> {
  while (running()) {
    try {
      return await RawClient.open(port);
    } catch {
      await pause(RECONNECT_EVERY_MS);
    }
  }
  return null;
}

/** Consumer events kept for a failure's report (the newest; older ones dropped). */
const TRACE_LIMIT = 4000;

export class TrafficRun {
  private stopped = false;
  private consumersStopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly producing: Promise<void>[] = [];
  private consumers = 0;
  /** What each consumer did — connect, reserve answers other than RESERVED, errors — with times. */
  readonly trace: Array<{ atMs: number; consumer: number; what: string }> = [];

  constructor(private readonly ledger: FailoverLedger) {}

  producer(proxyPort: number, shard: number, tube: string, label: string): void {
    const loop = this.produce(proxyPort, shard, tube, label);
    this.loops.push(loop);
    this.producing.push(loop);
  }

  consumer(proxyPort: number, tubes: readonly string[]): void {
    this.loops.push(this.consume(proxyPort, tubes));
  }

  /**
   * Stops the producers; resolves once each has its last put answered and in the ledger (a put in
   * flight when they stop is acknowledged after: read the ledger before, and it is missing).
   */
  async stopProducers(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.producing);
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    this.consumersStopped = true;
    await Promise.all(this.loops);
  }

  private async produce(port: number, shard: number, tube: string, label: string): Promise<void> {
    let n = 0;
    const running = () => !this.stopped;
    while (running()) {
      const client = await connectUntil(port, running);
      if (!client) return;
      try {
        await client.cmd(`use ${tube}`);
        while (running()) {
          const body = `${label}-${n++}`;
          const sentAtMs = Date.now();
          let line = '';
          try {
            line = (await client.cmd(`put 0 0 ${TTR_SECS} ${body.length}`, body, 15_000)).line;
          } finally {
            const m = /^INSERTED (\d+)$/.exec(line);
            this.ledger.puts.push({
              body,
              shard,
              sentAtMs,
              answeredAtMs: Date.now(),
              id: m ? Number(m[1]) : null,
            });
          }
          await pause(PUT_EVERY_MS);
        }
      } catch {
        // The proxy went away: connect again.
      } finally {
        client.close();
      }
    }
  }

  private note(consumer: number, what: string): void {
    this.trace.push({ atMs: Date.now(), consumer, what });
    if (this.trace.length > TRACE_LIMIT) this.trace.splice(0, this.trace.length - TRACE_LIMIT);
  }

  private async consume(port: number, tubes: readonly string[]): Promise<void> {
    const me = this.consumers++;
    const running = () => !this.consumersStopped;
    while (running()) {
      const client = await connectUntil(port, running);
      if (!client) return;
      this.note(me, `connected to :${port}`);
      try {
        for (const tube of tubes) await client.cmd(`watch ${tube}`);
        await client.cmd('ignore default');
        while (running()) {
          const reserveSentAtMs = Date.now();
          const r = await client.cmd('reserve-with-timeout 1', undefined, 15_000);
          const m = /^RESERVED (\d+) \d+$/.exec(r.line);
          if (!m) {
            this.note(me, `${r.line} after ${Date.now() - reserveSentAtMs} ms`);
            if (r.line !== 'TIMED_OUT') await pause(RECONNECT_EVERY_MS);
            continue;
          }
          const delivery: Delivery = {
            body: r.body?.toString() ?? '',
            id: Number(m[1]),
            reserveSentAtMs,
            atMs: Date.now(),
            deletedAtMs: null,
          };
          this.ledger.deliveries.push(delivery);
          const d = await client.cmd(`delete ${delivery.id}`, undefined, 15_000);
          if (d.line === 'DELETED') delivery.deletedAtMs = Date.now();
          else if (d.line === 'NOT_FOUND') delivery.deleteRefused = true;
          this.note(
            me,
            `${delivery.body} reserved after ${delivery.atMs - reserveSentAtMs} ms, delete ${d.line}`,
          );
        }
      } catch (err) {
        this.note(me, `connection ended: ${(err as Error).message}`);
        // The proxy went away: connect again.
      } finally {
        client.close();
      }
    }
  }
}
