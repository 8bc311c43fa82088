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
  conn: NodeConn;
  take: boolean;
  settled: boolean;
  done: Promise<Reply | null>;
}

function startWaits(session: ClientSession, plan: ReservePlan): Wait[] {
  const waits: Wait[] = [];
  const waitMs = plan.timeoutMs ?? RESERVE_WAIT_FOREVER_SECS * 1000;
  const timeoutMs = plan.timeoutMs === null ? null : plan.timeoutMs + session.ctx.pool.options.nodeTimeoutMs;
  let countFlag: number =
    plan.req.op === 'reserve' ? ReserveWaitFlag.CountReserve : ReserveWaitFlag.CountReserveWithTimeout;
  for (const index of [...plan.takeNodes, ...plan.deadlineNodes]) {
    const conn = session.nodes.connTo(index);
    if (!conn) continue;
    const take = plan.takeNodes.includes(index);
    if (take) session.nodes.syncConn(conn);
    const flags = (take ? ReserveWaitFlag.WithCreated : ReserveWaitFlag.DeadlineOnly) | countFlag;
    countFlag = 0;
    const wait: Wait = { index, conn, take, settled: false, done: Promise.resolve(null) };
    wait.done = conn.backend
      .request(requestLine({ op: 'x-reserve-wait', timeoutMs: waitMs, flags }), undefined, timeoutMs)
      .then((reply) => {
        wait.settled = true;
        return reply;
      });
    waits.push(wait);
  }
  return waits;
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
  for (const w of waits) if (!w.settled) void w.conn.backend.request(requestLine({ op: 'x-cancel' }));
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
