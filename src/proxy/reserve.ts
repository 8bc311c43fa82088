/**
 * reserve / reserve-with-timeout through the proxy.
 *
 * The watch list decides the nodes: those owning a watched tube ("take" nodes), plus nodes where
 * this client holds reservations but watches nothing ("deadline" nodes: only they can produce its
 * DEADLINE_SOON). Then:
 * - one take node, no deadline node: the command is forwarded as is (the common case, and the
 *   reason to pin tubes that are consumed together onto one node);
 * - several, all stalkd nodes: cancellable waits (reserve-ext.ts, protocol extensions);
 * - several, any stock beanstalkd among them: sweep + sliced waits (reserve-stock.ts).
 *
 * Either way the client's reserve counts once in merged stats, one deadline governs
 * reserve-with-timeout, and the job handed over is recorded in that node connection's
 * `reserved` set (for later deadline nodes).
 */
import type { RequestOf } from '../protocol/commands';
import { REPLY, type ReplyBytes, replyBytes } from '../protocol/replies';
import type { Reply } from '../protocol/reply-parser';
import { requestLine } from '../protocol/request-line';
import { syncConn, watchedNodes } from './conn-sync';
import { Forward } from './forward';
import type { HandlerResult } from './handlers';
import { withClientId } from './id-rewrite';
import { NodeKind } from './node-pool';
import { reserveExt } from './reserve-ext';
import { reserveStock } from './reserve-stock';
import type { ClientSession, NodeConn } from './session';

type ReserveRequest = RequestOf<'reserve' | 'reserve-with-timeout'>;

export interface ReservePlan {
  /** The client's request (reserve-with-timeout carries the timeout). */
  req: ReserveRequest;
  /** null: no timeout (plain reserve). */
  timeoutMs: number | null;
  takeNodes: number[];
  deadlineNodes: number[];
}

/** Hands a node's RESERVED reply to the client: records the reservation, rewrites the id. */
export function deliverJob(conn: NodeConn, index: number, reply: Reply): ReplyBytes {
  conn.reserved.add(nodeJobId(reply));
  return withClientId(reply, index) ?? REPLY.INTERNAL_ERROR;
}

/** The node-local id in `RESERVED <id> …`. */
export function nodeJobId(reply: Reply): number {
  return Number(reply.line.split(' ')[1]);
}

/** Resolves with `fallback` if the client half-closes while the reserve waits. */
export function abortable<T>(session: ClientSession, work: Promise<T>, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    let done = false;
    session.abortWait = () => {
      if (!done) resolve(fallback);
      done = true;
    };
    work.then((value) => {
      if (!done) resolve(value);
      done = true;
    });
  });
}

/** A reserve forwarded to the one node that owns every watched tube (pipelined, see reserveTarget). */
class SingleReserve extends Forward {
  constructor(
    private readonly session: ClientSession,
    conn: NodeConn,
    index: number,
    plan: ReservePlan,
  ) {
    super(
      conn,
      index,
      requestLine(plan.req),
      undefined,
      plan.timeoutMs === null ? null : plan.timeoutMs + session.ctx.pool.options.nodeTimeoutMs,
    );
    session.beginWait();
  }

  finish(reply: Reply | null): ReplyBytes {
    this.session.endWait();
    if (!reply) return REPLY.INTERNAL_ERROR;
    if (reply.word === 'RESERVED') return deliverJob(this.conn, this.index, reply);
    return replyBytes(reply);
  }
}

function reserveSingle(session: ClientSession, index: number, plan: ReservePlan): HandlerResult {
  const conn = session.connTo(index);
  if (!conn) return REPLY.INTERNAL_ERROR;
  syncConn(session, conn, index);
  return new SingleReserve(session, conn, index, plan);
}

/** Nodes where the client holds reservations but watches nothing (only they can say DEADLINE_SOON). */
function deadlineNodesOf(session: ClientSession, takeNodes: number[]): number[] {
  return session
    .allConns()
    .filter((c) => c.reserved.size > 0 && !takeNodes.includes(c.link.node.index))
    .map((c) => c.link.node.index);
}

/**
 * Where a reserve goes in the session's ordering rule: a reserve that one node can answer alone
 * (one take node, no deadline node) is pipelined to it like any other request — the node itself
 * holds the requests behind it until the wait ends, exactly as beanstalkd stops reading a waiting
 * connection; any other reserve is a barrier.
 */
export function reserveTarget(session: ClientSession): number | 'barrier' {
  const takeNodes = watchedNodes(session);
  const only = takeNodes[0];
  if (takeNodes.length !== 1 || only === undefined) return 'barrier';
  return session.holdsReservationsOff(only) ? 'barrier' : only;
}

/** The plan for `req`; the single-node path passes its nodes (already known) to skip the scan. */
function planFor(
  session: ClientSession,
  req: ReserveRequest,
  takeNodes = watchedNodes(session),
  deadlineNodes = deadlineNodesOf(session, takeNodes),
): ReservePlan {
  return { req, timeoutMs: 'timeoutMs' in req ? req.timeoutMs : null, takeNodes, deadlineNodes };
}

export function handleReserve(session: ClientSession, req: ReserveRequest): HandlerResult {
  session.markWorker();
  const single = reserveTarget(session);
  if (single !== 'barrier') return reserveSingle(session, single, planFor(session, req, [single], []));
  const plan = planFor(session, req);
  if (plan.takeNodes.length === 0) return REPLY.INTERNAL_ERROR;
  return reserveAcross(session, plan);
}

async function reserveAcross(session: ClientSession, plan: ReservePlan): Promise<ReplyBytes> {
  const pool = session.ctx.pool;
  session.beginWait();
  try {
    const involved = [...plan.takeNodes, ...plan.deadlineNodes].map((i) => pool.get(i));
    const allStalkd = involved.every((l) => l?.kind === NodeKind.Stalkd);
    return await (allStalkd ? reserveExt(session, plan) : reserveStock(session, plan));
  } finally {
    session.abortWait = null;
    session.endWait();
  }
}
