/**
 * reserve / reserve-with-timeout through the proxy.
 *
 * The watch list decides the nodes: those owning a watched tube ("take" nodes), plus nodes where
 * this client holds reservations but watches nothing ("deadline" nodes: only they can produce its
 * DEADLINE_SOON). Then:
 * - one take node, no deadline node: the request is forwarded as is (the common case, and the
 *   reason to pin tubes that are consumed together onto one node);
 * - several, all stalkd nodes: cancellable waits (ext.ts, protocol extensions);
 * - several, any stock beanstalkd among them: sweep + sliced waits (stock.ts).
 *
 * Either way the client's reserve counts once in merged stats, one deadline governs
 * reserve-with-timeout, and the job handed over is recorded on that node connection (for later
 * deadline nodes).
 */
import { REPLY, type ReplyBytes, replyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import { requestLine } from '../../protocol/request-line';
import { Forward } from '../node/forward';
import { NodeKind } from '../node/node-pool';
import type { NodeConn } from '../session/node-sync';
import type { ClientSession } from '../session/session';
import type { HandlerResult } from '../types';
import { reserveExt } from './ext';
import { deliverJob, type ReservePlan, type ReserveRequest } from './plan';
import { reserveStock } from './stock';

/** A reserve forwarded to the one node that owns every watched tube (pipelined, see reserveTarget). */
class SingleReserve extends Forward {
  constructor(
    private readonly session: ClientSession,
    conn: NodeConn,
    plan: ReservePlan,
  ) {
    const timeoutMs =
      plan.timeoutMs === null ? null : plan.timeoutMs + session.ctx.pool.options.nodeTimeoutMs;
    super(conn, requestLine(plan.req), undefined, timeoutMs);
    session.beginWait();
  }

  finish(reply: Reply | null): ReplyBytes {
    this.session.endWait();
    if (!reply) return REPLY.INTERNAL_ERROR;
    if (reply.word === 'RESERVED') return deliverJob(this.conn, reply);
    return replyBytes(reply);
  }
}

function reserveSingle(session: ClientSession, index: number, plan: ReservePlan): HandlerResult {
  const conn = session.nodes.connTo(index);
  if (!conn) return REPLY.INTERNAL_ERROR;
  session.nodes.syncConn(conn);
  return new SingleReserve(session, conn, plan);
}

/** Nodes where the client holds reservations but watches nothing (only they can say DEADLINE_SOON). */
function deadlineNodesOf(session: ClientSession, takeNodes: number[]): number[] {
  return session.nodes
    .openConns()
    .filter((c) => c.holdsReservations && !takeNodes.includes(c.index))
    .map((c) => c.index);
}

/**
 * Where a reserve goes in the session's ordering rule: a reserve that one node can answer alone
 * (one take node, no deadline node) is pipelined to it like any other request — the node itself
 * holds the requests behind it until the wait ends, exactly as beanstalkd stops reading a waiting
 * connection; any other reserve is a barrier.
 */
export function reserveTarget(session: ClientSession): number | 'barrier' {
  const takeNodes = session.tubes.watchedNodes();
  const only = takeNodes[0];
  if (takeNodes.length !== 1 || only === undefined) return 'barrier';
  return session.nodes.holdsReservationsOff(only) ? 'barrier' : only;
}

/** The plan for `req`; the single-node path passes its nodes (already known) to skip the scan. */
function planFor(
  session: ClientSession,
  req: ReserveRequest,
  takeNodes = session.tubes.watchedNodes(),
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
    session.reserve.onAbort(null);
    session.endWait();
  }
}
