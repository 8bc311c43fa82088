/**
 * Continuous write load on a primary for replication tests: `clients` connections, each a closed
 * loop of puts (every third reply is followed by a delete of that connection's oldest live job).
 * Keeps a ledger — every id whose INSERTED arrived, with its body, and every id whose DELETED
 * arrived — and the time of each acknowledgement (for throughput windows).
 */
import { MiniClient } from './mini-client';

export class ShardLoad {
  /** Acknowledged puts still live (id → body). */
  readonly live = new Map<number, string>();
  readonly deleted = new Set<number>();
  /** performance.now() of every acknowledgement, in order. */
  readonly ackTimes: number[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly connections: MiniClient[] = [];

  private constructor() {}

  static async start(port: number, clients = 4, bodyBytes = 32): Promise<ShardLoad> {
    const load = new ShardLoad();
    for (let c = 0; c < clients; c++) {
      const client = await MiniClient.connect(port);
      load.connections.push(client);
      load.loops.push(load.loop(client, c, bodyBytes));
    }
    return load;
  }

  get acked(): number {
    return this.ackTimes.length;
  }

  /** Acknowledgements per second between two performance.now() instants. */
  rate(fromMs: number, toMs: number): number {
    let n = 0;
    for (const t of this.ackTimes) if (t >= fromMs && t < toMs) n++;
    return (n * 1000) / Math.max(1, toMs - fromMs);
  }

  /** The longest time without an acknowledgement between two performance.now() instants, ms. */
  longestGap(fromMs: number, toMs: number): number {
    let last = fromMs;
    let gap = 0;
    for (const t of this.ackTimes) {
      if (t < fromMs || t >= toMs) continue;
      gap = Math.max(gap, t - last);
      last = t;
    }
    return Math.max(gap, toMs - last);
  }

  private async loop(client: MiniClient, c: number, bodyBytes: number): Promise<void> {
    const mine: number[] = [];
    for (let i = 0; this.running; i++) {
      const body = `c${c}-${i}-`.padEnd(bodyBytes, 'x');
      const reply = await client.put(body);
      const m = /^INSERTED (\d+)$/.exec(reply.line);
      if (!m) throw new Error(`put: ${reply.line}`);
      this.live.set(Number(m[1]), body);
      mine.push(Number(m[1]));
      this.ackTimes.push(performance.now());
      if (i % 3 === 2 && this.running) {
        const id = mine.shift() as number;
        const del = await client.send(`delete ${id}`);
        if (del.line !== 'DELETED') throw new Error(`delete ${id}: ${del.line}`);
        this.live.delete(id);
        this.deleted.add(id);
        this.ackTimes.push(performance.now());
      }
    }
  }

  /** Resolves once at least `n` more acknowledgements have arrived. */
  async more(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acked + n;
    const deadline = Date.now() + timeoutMs;
    while (this.acked < target) {
      if (Date.now() > deadline) throw new Error(`load: ${this.acked} of ${target} acknowledgements`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Ends the loops after their current request; every reply is awaited. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.connections) c.close();
  }
}
