/**
 * Reserve across several stalkd nodes with the internal extensions (docs/proxy.md, "Node protocol
 * extensions"; clients can never send x-* commands through the proxy):
 *
 *   x-reserve-wait <secs> <flags>  → RESERVED <id> <bytes> <pri> <createdUs> | TIMED_OUT | DEADLINE_SOON
 *   x-cancel                       → CANCELLED (the wait then answers TIMED_OUT first) | NOT_WAITING
 *   x-unreserve <id>               → UNRESERVED | NOT_FOUND (back to ready as if never reserved)
 *
 * Flags: 1 = count as cmd-reserve, 2 = count as cmd-reserve-with-timeout (set on exactly one node
 * so merged stats show one command), 4 = deadline-only (take no job; only DEADLINE_SOON/TIMED_OUT),
 * 8 = add the job's creation time (µs since the epoch; nodes older than the flag leave it out).
 *
 * Algorithm: a wait on every candidate; on the first RESERVED or DEADLINE_SOON, x-cancel the
 * others; every wait settles (one with a ready job answers RESERVED before it sees the cancel);
 * the lowest pri among the RESERVED wins — ties go to the oldest job, as beanstalkd's FIFO within
 * a priority (then the lower node index: equal stamps, or a node that sent none) — and the rest
 * are x-unreserved, leaving no trace. A job is never delivered twice or lost: each wait is answered exactly once, and
 * every RESERVED is either handed over or unreserved.
 */
import { RESERVE_WAIT_FOREVER_SECS, ReserveWaitFlag } from '../../protocol/commands';
import { REPLY, type ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import { requestLine } from '../../protocol/request-line';
import type { NodeConn } from '../session/node-sync';
import type { ClientSession } from '../session/session';
import { abortable, deliverJob, nodeJobId, type ReservePlan } from './plan';

interface Wait {
  index: number;
  /** The connection the current x-reserve-wait went out on (a failover replaces it). */
  conn: NodeConn;
  take: boolean;
  settled: boolean;
  /** Set by cancelOthers: a wait between two nodes' lives sends no new x-reserve-wait. */
  cancelled: boolean;
  wakeCancelled: () => void;
  done: Promise<Reply | null>;
}

/** A wait on a replicated shard is sent again this many times at most (each after a failover). */
const MAX_REWAITS = 8;

function startWaits(session: ClientSession, plan: ReservePlan): Wait[] {
  const waits: Wait[] = [];
  let countFlag: number =
    plan.req.op === 'reserve' ? ReserveWaitFlag.CountReserve : ReserveWaitFlag.CountReserveWithTimeout;
  const deadlineAtMs = plan.timeoutMs === null ? null : Date.now() + plan.timeoutMs;
  for (const index of [...plan.takeNodes, ...plan.deadlineNodes]) {
    const conn = session.nodes.connTo(index);
    if (!conn) continue;
    const take = plan.takeNodes.includes(index);
    if (take) session.nodes.syncConn(conn);
    const flags = (take ? ReserveWaitFlag.WithCreated : ReserveWaitFlag.DeadlineOnly) | countFlag;
    countFlag = 0;
    const wait: Wait = {
      index,
      conn,
      take,
      settled: false,
      cancelled: false,
      wakeCancelled: () => {},
      done: Promise.resolve(null),
    };
    wait.done = keepWaiting(session, wait, flags, plan.timeoutMs ?? 0, deadlineAtMs).then((reply) => {
      wait.settled = true;
      return reply;
    });
    waits.push(wait);
  }
  return waits;
}

/**
 * x-reserve-wait on one node; when its connection fails and the shard has replicas, the wait goes
 * on once the shard serves again (its primary back, or a standby promoted: failover.ts) with the
 * time left — a blocking reserve across nodes picks up the new primary (docs/failover.md).
 */
async function keepWaiting(
  session: ClientSession,
  wait: Wait,
  firstFlags: number,
  firstWaitMs: number,
  deadlineAtMs: number | null,
): Promise<Reply | null> {
  const cancelled = new Promise<void>((resolve) => {
    wait.wakeCancelled = resolve;
  });
  const nodeTimeoutMs = session.ctx.pool.options.nodeTimeoutMs;
  let flags = firstFlags;
  for (let attempt = 0; ; attempt++) {
    // Whole seconds on the wire, rounded down: a wait sent again never outlasts the client's timeout.
    const leftMs =
      deadlineAtMs === null
        ? RESERVE_WAIT_FOREVER_SECS * 1000
        : attempt === 0
          ? firstWaitMs
          : Math.floor((deadlineAtMs - Date.now()) / 1000) * 1000;
    if (leftMs < 0) return null;
    const replyTimeoutMs = deadlineAtMs === null ? null : leftMs + nodeTimeoutMs;
    const line = requestLine({ op: 'x-reserve-wait', timeoutMs: leftMs, flags });
    const reply = await wait.conn.backend.request(line, undefined, replyTimeoutMs);
    const shard = session.ctx.pool.get(wait.index);
    if (reply !== null || wait.cancelled || session.closed || !shard?.replicated || attempt >= MAX_REWAITS) {
      return reply;
    }
    if (deadlineAtMs !== null && Date.now() >= deadlineAtMs) return null;
    const timer =
      deadlineAtMs === null
        ? null
        : new Promise<void>((r) => setTimeout(r, deadlineAtMs - Date.now()).unref());
    await Promise.race([shard.whenServing(), cancelled, ...(timer ? [timer] : [])]);
    const conn = wait.cancelled || session.closed ? null : session.nodes.connTo(wait.index);
    if (!conn) return null;
    if (wait.take) session.nodes.syncConn(conn);
    wait.conn = conn;
    // Counted once, by the first wait.
    flags &= ~(ReserveWaitFlag.CountReserve | ReserveWaitFlag.CountReserveWithTimeout);
  }
}

/** Resolves on the first RESERVED or DEADLINE_SOON, or when no take node is still waiting. */
function firstDecisive(waits: Wait[]): Promise<void> {
  return new Promise((resolve) => {
    for (const w of waits) {
      void w.done.then((reply) => {
        const decisive = reply?.word === 'RESERVED' || reply?.line === 'DEADLINE_SOON';
        if (decisive || !waits.some((o) => o.take && !o.settled)) resolve();
      });
    }
  });
}

function cancelOthers(waits: Wait[]): void {
  for (const w of waits) {
    if (w.settled) continue;
    w.cancelled = true;
    w.wakeCancelled();
    void w.conn.backend.request(requestLine({ op: 'x-cancel' }));
  }
}

/** What a stalkd node adds to its RESERVED line for x-reserve-wait: pri and creation time. */
interface Candidate {
  w: Wait;
  reply: Reply;
  pri: number;
  /** µs since the epoch; null from a node that does not send it. */
  createdUs: number | null;
}

function candidate(w: Wait, reply: Reply): Candidate {
  const [, , , pri = '0', created] = reply.line.split(' ');
  return { w, reply, pri: Number(pri), createdUs: created === undefined ? null : Number(created) };
}

/**
 * Lowest priority first; among equal priorities the oldest job when every candidate has a
 * creation time (all or none, so the order stays transitive while nodes of two versions mix),
 * then the lower node index.
 */
export function rankCandidates<T extends { pri: number; createdUs: number | null; w: { index: number } }>(
  jobs: T[],
): T[] {
  const byAge = jobs.every((j) => j.createdUs !== null);
  return jobs.sort(
    (a, b) =>
      a.pri - b.pri ||
      (byAge ? (a.createdUs as number) - (b.createdUs as number) : 0) ||
      a.w.index - b.w.index,
  );
}

export async function reserveExt(session: ClientSession, plan: ReservePlan): Promise<ReplyBytes> {
  if (!plan.takeNodes.some((i) => session.ctx.pool.get(i)?.up)) return REPLY.INTERNAL_ERROR;
  const waits = startWaits(session, plan);
  if (!waits.some((w) => w.take)) return REPLY.INTERNAL_ERROR;
  const aborted = await abortable(
    session,
    firstDecisive(waits).then(() => false),
    true,
  );
  cancelOthers(waits);
  const replies = await Promise.all(waits.map((w) => w.done));
  const jobs = rankCandidates(
    waits.flatMap((w, i) => {
      const reply = replies[i];
      return reply?.word === 'RESERVED' ? [candidate(w, reply)] : [];
    }),
  );
  const best = aborted ? undefined : jobs.find((j) => j.w.take);
  for (const j of jobs) {
    if (j !== best) void j.w.conn.backend.request(requestLine({ op: 'x-unreserve', id: nodeJobId(j.reply) }));
  }
  if (best) return deliverJob(best.w.conn, best.reply);
  if (aborted) return REPLY.TIMED_OUT;
  if (replies.some((r) => r?.line === 'DEADLINE_SOON')) return REPLY.DEADLINE_SOON;
  if (!waits.some((w, i) => w.take && replies[i])) return REPLY.INTERNAL_ERROR;
  return REPLY.TIMED_OUT;
}
