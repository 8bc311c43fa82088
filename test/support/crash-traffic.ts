/**
 * The mixed traffic of the crash harness (issue 13), one loop per connection, every reply handed to
 * the ledger:
 *
 * - 1–4 puts pipelined in one write, each into a random one of 4 tubes (`use` only when the tube
 *   changes); priorities from {0, 1, 100, 1024, 65535, random 32-bit}; 20 % with delay 1–3 s;
 *   bodies of 0–3000 random bytes (3 % empty, 10 % with CRLF inside, 10 % ending in CRLF);
 * - `reserve-with-timeout 0` (every connection watches the 4 tubes), then for the job: 62 %
 *   `delete`, 14 % `bury <pri>`, otherwise `release <pri> <delay 0–3>`;
 * - 10 % of loops: a buried job (claimed from the ledger, so no two connections race for it) is
 *   kicked with `kick-job` or deleted.
 *
 * The loops end when their connection dies (the node was killed) or, once `stop()` was called,
 * after the step under way (its replies all in: through a proxy, the dead node's commands are
 * answered INTERNAL_ERROR).
 */
import { type Client, connect, type Reply } from '../../src/client';
import { type CrashLedger, Durable, type PutEntry } from './crash-ledger';
import { type Rand, seededRand } from './fuzz';

export const CRASH_TUBES = ['crash0', 'crash1', 'crash2', 'crash3'] as const;
const PRIORITIES = [0, 1, 100, 1024, 65535];
const TTR_SECS = 60;
const MAX_BODY_BYTES = 3000;

export function randomPri(rand: Rand): number {
  const k = rand(PRIORITIES.length + 1);
  return k < PRIORITIES.length ? (PRIORITIES[k] as number) : rand(2 ** 32);
}

/** 0–3000 random bytes: 3 % empty, 10 % with a CRLF inside, 10 % ending in CRLF. */
export function randomBody(rand: Rand): Buffer {
  if (rand(100) < 3) return Buffer.alloc(0);
  const bytes = 1 + rand(MAX_BODY_BYTES);
  const body = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) {
    const word = rand(2 ** 32);
    for (let k = 0; k < 4 && i + k < bytes; k++) body[i + k] = (word >>> (8 * k)) & 0xff;
  }
  const shape = rand(10);
  if (shape === 0 && bytes >= 2) body.write('\r\n', bytes - 2, 'latin1');
  else if (shape === 1 && bytes >= 4) body.write('\r\n', 1 + rand(bytes - 3), 'latin1');
  return body;
}

/** The reply, or undefined when the connection ended before it came. */
function settle(reply: Promise<Reply>): Promise<Reply | undefined> {
  return reply.then(
    (r) => r,
    () => undefined,
  );
}

export class CrashTraffic {
  private stopping = false;
  /** Puts sent whose reply has not come. */
  putsInFlight = 0;
  /** Called (once) right after the next batch of puts has been written. */
  private afterNextPuts: (() => void) | undefined;
  private readonly clients: Client[] = [];
  private loops: Promise<void>[] = [];

  constructor(
    private readonly ledger: CrashLedger,
    private readonly seed: number,
  ) {}

  /** Opens `connections` connections to port, each watching the 4 tubes, and starts their loops. */
  async start(port: number, connections: number): Promise<void> {
    for (let i = 0; i < connections; i++) {
      const c = await connect({ host: '127.0.0.1', port });
      this.clients.push(c);
      const setup = await Promise.all([
        ...CRASH_TUBES.map((t) => c.raw(`watch ${t}`)),
        c.raw('ignore default'),
      ]);
      const last = setup[setup.length - 1] as Reply;
      if (last.line !== `WATCHING ${CRASH_TUBES.length}`) throw new Error(`ignore default: ${last.line}`);
    }
    this.loops = this.clients.map((c, i) => this.loop(c, `c${i}`, seededRand(this.seed * 31 + i)));
  }

  /** Runs `action` right after the next write that carries puts (setImmediate: the write is out). */
  onNextPuts(action: () => void): void {
    this.afterNextPuts = action;
  }

  /** Lets every loop finish its step, then resolves once all have ended. */
  stop(): Promise<void> {
    this.stopping = true;
    return this.ended();
  }

  /**
   * Ends the loops now: the connections are closed under them (a shard whose standby was killed
   * holds their confirmations until it is back, so waiting for the step under way could last long).
   */
  async abort(): Promise<void> {
    this.stopping = true;
    await this.close();
    await this.ended();
  }

  ended(): Promise<void> {
    return Promise.all(this.loops).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    this.clients.length = 0;
  }

  private async loop(c: Client, name: string, rand: Rand): Promise<void> {
    const used = { tube: 'default' };
    while (!this.stopping) {
      if (!(await this.putBatch(c, name, rand, used))) return;
      if (this.stopping) return;
      if (!(await this.reserveOne(c, name, rand))) return;
      if (this.stopping) return;
      if (rand(10) === 0 && !(await this.settleBuried(c, name, rand))) return;
    }
  }

  /** 1–4 puts in one write; false when the connection is gone. */
  private async putBatch(c: Client, name: string, rand: Rand, used: { tube: string }): Promise<boolean> {
    const uses: [string, Promise<Reply | undefined>][] = [];
    const puts: [PutEntry, Promise<Reply | undefined>][] = [];
    const count = 1 + rand(4);
    // Everything below is queued in this tick: the client writes it as one buffer.
    for (let i = 0; i < count; i++) {
      const tube = CRASH_TUBES[rand(CRASH_TUBES.length)] as string;
      if (tube !== used.tube) {
        uses.push([tube, settle(c.raw(`use ${tube}`))]);
        used.tube = tube;
      }
      const pri = randomPri(rand);
      const delaySecs = rand(5) === 0 ? 1 + rand(3) : 0;
      const body = randomBody(rand);
      const put = this.ledger.putSent(name, tube, pri, delaySecs, body);
      puts.push([put, settle(c.raw(`put ${pri} ${delaySecs} ${TTR_SECS} ${body.length}`, body))]);
    }
    this.putsInFlight += count;
    const after = this.afterNextPuts;
    if (after) {
      this.afterNextPuts = undefined;
      setImmediate(after);
    }
    let alive = true;
    for (const [tube, reply] of uses) {
      const r = await reply;
      if (r === undefined) alive = false;
      else if (r.line !== `USING ${tube}`) this.ledger.violation(`${name}: use ${tube} answered '${r.line}'`);
    }
    for (const [put, reply] of puts) {
      const r = await reply;
      this.putsInFlight--;
      if (r === undefined) alive = false;
      this.ledger.putReplied(put, r?.line);
    }
    return alive;
  }

  /** reserve-with-timeout 0, then delete / bury / release the job; false when the connection is gone. */
  private async reserveOne(c: Client, name: string, rand: Rand): Promise<boolean> {
    const r = await settle(c.raw('reserve-with-timeout 0'));
    if (r === undefined) return false;
    if (r.word !== 'RESERVED') {
      if (r.line !== 'TIMED_OUT' && r.line !== 'INTERNAL_ERROR')
        this.ledger.violation(`${name}: reserve-with-timeout 0 answered '${r.line}'`);
      return true;
    }
    const id = Number(r.line.split(' ')[1]);
    const job = this.ledger.reserved(name, id, r.body ?? Buffer.alloc(0));
    if (job === undefined) return true;
    const roll = rand(100);
    const pri = randomPri(rand);
    let change: ReturnType<CrashLedger['changeSent']>;
    if (roll < 62)
      change = this.ledger.changeSent(job, name, `delete ${id}`, 'DELETED', Durable.Deleted, job.acked.pri);
    else if (roll < 76)
      change = this.ledger.changeSent(job, name, `bury ${id} ${pri}`, 'BURIED', Durable.Buried, pri);
    else {
      const delaySecs = rand(4);
      const state = delaySecs > 0 ? Durable.Delayed : Durable.Ready;
      change = this.ledger.changeSent(job, name, `release ${id} ${pri} ${delaySecs}`, 'RELEASED', state, pri);
    }
    const reply = await settle(c.raw(change.command));
    this.ledger.changeReplied(change, reply?.line);
    return reply !== undefined;
  }

  /** kick-job or delete of a buried job; false when the connection is gone. */
  private async settleBuried(c: Client, name: string, rand: Rand): Promise<boolean> {
    const job = this.ledger.claimBuried(rand);
    if (job === undefined) return true;
    const pri = job.acked.pri;
    const change =
      rand(2) === 0
        ? this.ledger.changeSent(job, name, `kick-job ${job.id}`, 'KICKED', Durable.Ready, pri)
        : this.ledger.changeSent(job, name, `delete ${job.id}`, 'DELETED', Durable.Deleted, pri);
    const reply = await settle(c.raw(change.command));
    this.ledger.changeReplied(change, reply?.line);
    return reply !== undefined;
  }
}
