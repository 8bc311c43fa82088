/**
 * What the reserve paths share (reserve.ts chooses, ext.ts and stock.ts wait): the plan of one
 * reserve, and handing a node's RESERVED to the client. Kept apart so the paths import it, not each
 * other.
 */
import type { RequestOf } from '../../protocol/commands';
import { REPLY, type ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import { withClientId } from '../id-rewrite';
import type { NodeConn } from '../session/node-sync';
import type { ClientSession } from '../session/session';

export type ReserveRequest = RequestOf<'reserve' | 'reserve-with-timeout'>;

export interface ReservePlan {
  /** The client's request (reserve-with-timeout carries the timeout). */
  req: ReserveRequest;
  /** null: no timeout (plain reserve). */
  timeoutMs: number | null;
  /** Nodes owning a watched tube: they may hand over a job. */
  takeNodes: number[];
  /** Nodes where the client holds reservations but watches nothing: only DEADLINE_SOON there. */
  deadlineNodes: number[];
}

/** The node-local id in `RESERVED <id> …`. */
export function nodeJobId(reply: Reply): number {
  const line = reply.line;
  const from = line.indexOf(' ') + 1;
  const to = line.indexOf(' ', from);
  return Number(to < 0 ? line.slice(from) : line.slice(from, to));
}

/** Hands a node's RESERVED reply to the client: records the reservation, rewrites the id. */
export function deliverJob(conn: NodeConn, reply: Reply): ReplyBytes {
  conn.reserved(nodeJobId(reply));
  return withClientId(reply, conn.index) ?? REPLY.INTERNAL_ERROR;
}

/** Resolves with `fallback` if the client half-closes while the reserve waits. */
export function abortable<T>(session: ClientSession, work: Promise<T>, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    let done = false;
    session.reserve.onAbort(() => {
      if (!done) resolve(fallback);
      done = true;
    });
    void work.then((value) => {
      if (!done) resolve(value);
      done = true;
    });
  });
}
