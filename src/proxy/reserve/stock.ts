/**
 * Reserve across several nodes with the plain beanstalkd protocol (stock beanstalkd 1.12/1.13 as
 * nodes; also used when any involved node is stock). The plain protocol cannot cancel a waiting
 * reserve, so:
 *
 * 1. Sweep: `reserve-with-timeout 0` on every candidate node at once. Each answers at once with
 *    its best ready job or TIMED_OUT. With several jobs, `stats-job` gives their priorities; the
 *    lowest pri wins (ties: the older job, then the lower node index) and the others go back with
 *    `release <id> <their pri> 0`, which puts them exactly where they were in the ready order.
 * 2. Wait: `reserve-with-timeout S` on every candidate, S = min(slice, time left), re-armed as each
 *    ends. The first RESERVED is handed to the client at once. Waits still running become
 *    "strays": a later reserve of the same client adopts them; otherwise a job they catch goes
 *    back with `release` as above. A stray delays the client's next command to that node by at
 *    most S seconds (default 1).
 *
 * Visible side effects, documented in docs/proxy.md: a job taken in the sweep or by a stray and
 * handed back shows `reserves` and `releases` one higher in stats-job; while it is held it is not
 * ready for others (milliseconds). Merged `stats` hides the proxy's own commands (overhead), the
 * node's own `stats` does not. Priority order across nodes holds for jobs ready when the reserve
 * starts; during the wait the first node to get a job wins.
 */
import { REPLY, type ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import { requestLine } from '../../protocol/request-line';
import { readYamlMap } from '../../protocol/yaml';
import type { NodeConn } from '../session/node-sync';
import type { ClientSession } from '../session/session';
import { EventQueue } from './event-queue';
import { deliverJob, nodeJobId, type ReservePlan } from './plan';
import type { ReserveState, WaitEvent } from './state';

interface Candidate {
  index: number;
  conn: NodeConn;
  take: boolean;
}

function candidatesOf(session: ClientSession, plan: ReservePlan): Candidate[] {
  const out: Candidate[] = [];
  for (const index of [...plan.takeNodes, ...plan.deadlineNodes]) {
    const conn = session.nodes.connTo(index);
    if (!conn) continue;
    session.nodes.syncConn(conn);
    const take = plan.takeNodes.includes(index);
    // A deadline node is safe to wait on only when parked on its (always empty) default tube.
    if (take || session.nodes.isParked(conn)) out.push({ index, conn, take });
  }
  return out;
}

/** Puts a job the client will not get back to ready, where it was (same pri, no delay). */
async function releaseBack(conn: NodeConn, nodeId: number): Promise<void> {
  const pri = await priorityOf(conn, nodeId);
  if (pri !== null) sendRelease(conn, nodeId, pri);
}

/** The job's priority from stats-job (null: it is gone). */
async function priorityOf(conn: NodeConn, nodeId: number): Promise<number | null> {
  conn.link.countOverhead('stats-job');
  const stats = await conn.backend.request(requestLine({ op: 'stats-job', id: nodeId }));
  return stats?.body ? Number(readYamlMap(stats.body).pri ?? 0) : null;
}

/** `release <id> <pri> 0`: back to ready exactly where it was. */
function sendRelease(conn: NodeConn, nodeId: number, pri: number): void {
  conn.link.countOverhead('release');
  void conn.backend.request(requestLine({ op: 'release', id: nodeId, pri, delayMs: 0 }));
}

function surplus(event: WaitEvent): void {
  if (event.reply?.word === 'RESERVED') void releaseBack(event.conn, nodeJobId(event.reply));
}

function arm(session: ClientSession, st: ReserveState, c: Candidate, seconds: number): void {
  st.armed.add(c.index);
  c.conn.link.countOverhead('reserve-with-timeout');
  const timeoutMs = seconds * 1000 + session.ctx.pool.options.nodeTimeoutMs;
  const line = requestLine({ op: 'reserve-with-timeout', timeoutMs: seconds * 1000 });
  void c.conn.backend.request(line, undefined, timeoutMs).then((reply) => {
    st.armed.delete(c.index);
    const event = { index: c.index, conn: c.conn, reply };
    if (session.closed || !st.deliver(event)) surplus(event);
  });
}

interface SweptJob {
  c: Candidate;
  reply: Reply;
  pri: number;
  age: number;
}

async function withPriority(job: Omit<SweptJob, 'pri' | 'age'>): Promise<SweptJob> {
  job.c.conn.link.countOverhead('stats-job');
  const stats = await job.c.conn.backend.request(requestLine({ op: 'stats-job', id: nodeJobId(job.reply) }));
  const map = stats?.body ? readYamlMap(stats.body) : {};
  return { ...job, pri: Number(map.pri ?? 0), age: Number(map.age ?? 0) };
}

/** Phase 1. Returns the job to deliver, DEADLINE_SOON, or null when nothing was ready. */
async function sweep(st: ReserveState, cands: Candidate[]): Promise<ReplyBytes | null> {
  const fresh = cands.filter((c) => !st.armed.has(c.index));
  const replies = await Promise.all(
    fresh.map((c) => {
      c.conn.link.countOverhead('reserve-with-timeout');
      return c.conn.backend.request(requestLine({ op: 'reserve-with-timeout', timeoutMs: 0 }));
    }),
  );
  const jobs: Omit<SweptJob, 'pri' | 'age'>[] = [];
  let deadlineSoon = false;
  replies.forEach((reply, i) => {
    const c = fresh[i] as Candidate;
    if (reply?.word === 'RESERVED') {
      if (c.take) jobs.push({ c, reply });
      else surplus({ index: c.index, conn: c.conn, reply });
    } else if (reply?.line === 'DEADLINE_SOON') deadlineSoon = true;
  });
  if (jobs.length === 0) return deadlineSoon ? REPLY.DEADLINE_SOON : null;
  let ranked: Omit<SweptJob, 'pri' | 'age'>[] = jobs;
  if (jobs.length > 1) {
    const priced = await Promise.all(jobs.map(withPriority));
    priced.sort((a, b) => a.pri - b.pri || b.age - a.age || a.c.index - b.c.index);
    ranked = priced;
  }
  const [best, ...rest] = ranked as [Omit<SweptJob, 'pri' | 'age'>, ...Omit<SweptJob, 'pri' | 'age'>[]];
  // Priorities are known here: release at once, so the release reaches each node before any
  // later command of this client (a second stats-job round trip would let the next reserve
  // overtake it and skip the job).
  for (const job of rest as SweptJob[]) sendRelease(job.c.conn, nodeJobId(job.reply), job.pri);
  return deliverJob(best.c.conn, best.reply);
}

type LoopEvent = WaitEvent | 'deadline' | 'abort';

/** Phase 2: sliced waits until a job, DEADLINE_SOON, the deadline, or no live node remains. */
async function waitLoop(session: ClientSession, st: ReserveState, plan: ReservePlan, deadlineAtMs: number) {
  const queue = new EventQueue<LoopEvent>();
  st.listen((event) => queue.push(event));
  st.onAbort(() => queue.push('abort'));
  const remaining = deadlineAtMs - Date.now();
  // setTimeout holds at most 2^31 − 1 ms; longer waits rely on the slices' own re-checks.
  const timer = remaining < 2 ** 31 - 1 ? setTimeout(() => queue.push('deadline'), remaining) : null;
  try {
    for (;;) {
      const leftMs = deadlineAtMs - Date.now();
      if (leftMs <= 0) return REPLY.TIMED_OUT;
      const cands = candidatesOf(session, plan);
      if (!cands.some((c) => c.take)) return REPLY.INTERNAL_ERROR;
      const seconds = Math.min(session.ctx.reserveSliceSec, Math.max(1, Math.ceil(leftMs / 1000)));
      for (const c of cands) if (!st.armed.has(c.index)) arm(session, st, c, seconds);
      const event = await queue.next();
      if (event === 'deadline' || event === 'abort') return REPLY.TIMED_OUT;
      const reply = event.reply;
      if (reply?.word === 'RESERVED') {
        if (plan.takeNodes.includes(event.index)) return deliverJob(event.conn, reply);
        surplus(event);
      } else if (reply?.line === 'DEADLINE_SOON') {
        return REPLY.DEADLINE_SOON;
      }
    }
  } finally {
    st.listen(null);
    if (timer) clearTimeout(timer);
    for (const event of queue.drain()) if (typeof event !== 'string') surplus(event);
  }
}

export async function reserveStock(session: ClientSession, plan: ReservePlan): Promise<ReplyBytes> {
  const st = session.reserve;
  session.ctx.counters.countLocal(plan.timeoutMs === null ? 'reserve' : 'reserve-with-timeout');
  const deadlineAtMs = plan.timeoutMs === null ? Number.POSITIVE_INFINITY : Date.now() + plan.timeoutMs;
  const cands = candidatesOf(session, plan);
  if (!cands.some((c) => c.take)) return REPLY.INTERNAL_ERROR;
  const swept = await sweep(st, cands);
  if (swept) return swept;
  if (plan.timeoutMs === 0) return REPLY.TIMED_OUT;
  return waitLoop(session, st, plan, deadlineAtMs);
}
