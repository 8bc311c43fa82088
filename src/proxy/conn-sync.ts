/**
 * Keeping a client's node connections in line with the client's own state, so that every node
 * sees exactly its share of that state (stats-tube's current-using / current-watching / waiting
 * then match one beanstalkd):
 *
 * - node n's connection uses the client's used tube U if n owns U, else n's parking tube;
 * - it watches the client's watched tubes that n owns; if none, only n's parking tube.
 *
 * A fresh connection uses and watches `default`, which only its owner node ever reports on (all
 * commands naming `default` go there), so elsewhere `default` is the parking tube and costs
 * nothing. On the node that owns `default` the parking tube is PARKING_TUBE, a tube no client
 * routes to: always empty, hidden from list-tubes and current-tubes by the proxy. Reserving on a
 * parked connection can never take a job, which the stock reserve path uses to catch
 * DEADLINE_SOON. Commands sent here are the proxy's own (overhead in merged stats).
 */
import type { Request } from '../protocol/commands';
import { requestLine } from '../protocol/request-line';
import type { ClientSession, NodeConn } from './session';

/** Reserved tube name: connections that must watch/use nothing visible park here. */
export const PARKING_TUBE = 'stalkd.parking';

export function ownerIndex(session: ClientSession, tube: string): number {
  return session.ctx.placement.ownerOf(tube).index;
}

export function parkingTubeOf(session: ClientSession, index: number): string {
  return ownerIndex(session, 'default') === index ? PARKING_TUBE : 'default';
}

/** The client's watched tubes owned by node `index`, in watch-list order. */
export function watchedOn(session: ClientSession, index: number): string[] {
  return session.watched.filter((t) => ownerIndex(session, t) === index);
}

/** Node indexes owning at least one watched tube, ascending (cached until the state changes). */
export function watchedNodes(session: ClientSession): number[] {
  const cache = session.watchedNodesCache;
  if (cache.version === session.stateVersion) return cache.nodes;
  const set = new Set<number>();
  for (const tube of session.watched) set.add(ownerIndex(session, tube));
  const nodes = [...set].sort((a, b) => a - b);
  session.watchedNodesCache = { version: session.stateVersion, nodes };
  return nodes;
}

/** Nodes whose connection carries visible state: owner of the used tube and of each watched tube. */
export function stateNodes(session: ClientSession): number[] {
  const set = new Set(watchedNodes(session));
  set.add(ownerIndex(session, session.used));
  return [...set];
}

function sendOwn(
  conn: NodeConn,
  req: Request & { op: 'use' | 'watch' | 'ignore' },
  sent: Promise<unknown>[],
): void {
  conn.link.countOverhead(req.op);
  sent.push(conn.backend.request(requestLine(req)));
}

function syncUsed(session: ClientSession, conn: NodeConn, index: number, sent: Promise<unknown>[]): void {
  const use = ownerIndex(session, session.used) === index ? session.used : parkingTubeOf(session, index);
  if (conn.used !== use) {
    sendOwn(conn, { op: 'use', tube: use }, sent);
    conn.used = use;
  }
}

/**
 * Brings the node-side used tube and watch list of `conn` (node `index`) in line. Returns the
 * requests sent: use/watch/ignore wait for them before answering, so that once a client reads
 * `WATCHING n` every other client sees the tube, as with one beanstalkd. O(watch list); skipped
 * when nothing changed since the connection was last brought in line.
 */
export function syncConn(session: ClientSession, conn: NodeConn, index: number): Promise<unknown>[] {
  const sent: Promise<unknown>[] = [];
  if (conn.syncedVersion === session.stateVersion) return sent;
  syncUsed(session, conn, index, sent);
  const desired = watchedOn(session, index);
  const target = desired.length > 0 ? desired : [parkingTubeOf(session, index)];
  for (const tube of target) {
    if (!conn.watched.has(tube)) {
      sendOwn(conn, { op: 'watch', tube: tube }, sent);
      conn.watched.add(tube);
    }
  }
  const keep = new Set(target);
  for (const tube of [...conn.watched]) {
    if (!keep.has(tube)) {
      sendOwn(conn, { op: 'ignore', tube: tube }, sent);
      conn.watched.delete(tube);
    }
  }
  conn.syncedVersion = session.stateVersion;
  return sent;
}

/**
 * After `watch tube` / `ignore tube` on a connection that was in line before: only the owner's
 * connection changes, by one tube (and the parking tube when the node's share becomes empty or
 * stops being empty). O(1), so a client may watch 10,000 tubes.
 */
export function syncWatchChange(
  session: ClientSession,
  conn: NodeConn,
  index: number,
  tube: string,
): Promise<unknown>[] {
  const sent: Promise<unknown>[] = [];
  const parking = parkingTubeOf(session, index);
  if (session.isWatching(tube)) {
    if (!conn.watched.has(tube)) {
      sendOwn(conn, { op: 'watch', tube: tube }, sent);
      conn.watched.add(tube);
    }
    if (conn.watched.has(parking) && tube !== parking) {
      sendOwn(conn, { op: 'ignore', tube: parking }, sent);
      conn.watched.delete(parking);
    }
  } else if (conn.watched.has(tube)) {
    if (tube === parking && conn.watched.size === 1) return sent;
    if (conn.watched.size === 1) {
      sendOwn(conn, { op: 'watch', tube: parking }, sent);
      conn.watched.add(parking);
    }
    sendOwn(conn, { op: 'ignore', tube: tube }, sent);
    conn.watched.delete(tube);
  }
  return sent;
}

/** After `use`: every connection's used tube (the owner uses it, the others park). */
export function syncUseChange(session: ClientSession, conn: NodeConn, index: number): Promise<unknown>[] {
  const sent: Promise<unknown>[] = [];
  syncUsed(session, conn, index, sent);
  return sent;
}

/** Before put, peek-ready/-delayed/-buried and kick: only the used tube matters (hot path). */
export function syncUse(session: ClientSession, conn: NodeConn, index: number): void {
  if (conn.used !== session.used) syncUsed(session, conn, index, []);
}

/** True when the connection watches only its node's parking tube (reserving there takes nothing). */
export function isParked(session: ClientSession, conn: NodeConn, index: number): boolean {
  return conn.watched.size === 1 && conn.watched.has(parkingTubeOf(session, index));
}
