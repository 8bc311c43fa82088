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

/** Node indexes owning at least one watched tube, ascending. */
export function watchedNodes(session: ClientSession): number[] {
  const set = new Set<number>();
  for (const tube of session.watched) set.add(ownerIndex(session, tube));
  return [...set].sort((a, b) => a - b);
}

/** Nodes whose connection carries visible state: owner of the used tube and of each watched tube. */
export function stateNodes(session: ClientSession): number[] {
  const set = new Set(watchedNodes(session));
  set.add(ownerIndex(session, session.used));
  return [...set];
}

function sendOwn(conn: NodeConn, line: string, statsKey: string, sent: Promise<unknown>[]): void {
  conn.link.countOverhead(statsKey);
  sent.push(conn.backend.request(line));
}

/**
 * Brings the node-side used tube and watch list of `conn` (node `index`) in line. Returns the
 * requests sent: use/watch/ignore wait for them before answering, so that once a client reads
 * `WATCHING n` every other client sees the tube, as with one beanstalkd.
 */
export function syncConn(session: ClientSession, conn: NodeConn, index: number): Promise<unknown>[] {
  const sent: Promise<unknown>[] = [];
  const parking = parkingTubeOf(session, index);
  const use = ownerIndex(session, session.used) === index ? session.used : parking;
  if (conn.used !== use) {
    sendOwn(conn, `use ${use}`, 'cmd-use', sent);
    conn.used = use;
  }
  const desired = watchedOn(session, index);
  const target = desired.length > 0 ? desired : [parking];
  for (const tube of target) {
    if (!conn.watched.includes(tube)) {
      sendOwn(conn, `watch ${tube}`, 'cmd-watch', sent);
      conn.watched.push(tube);
    }
  }
  for (const tube of [...conn.watched]) {
    if (!target.includes(tube)) {
      sendOwn(conn, `ignore ${tube}`, 'cmd-ignore', sent);
      conn.watched.splice(conn.watched.indexOf(tube), 1);
    }
  }
  return sent;
}

/** Before put, peek-ready/-delayed/-buried and kick: only the used tube matters (hot path). */
export function syncUse(session: ClientSession, conn: NodeConn, index: number): void {
  if (conn.used !== session.used) syncConn(session, conn, index);
}

/** True when the connection watches only its node's parking tube (reserving there takes nothing). */
export function isParked(session: ClientSession, conn: NodeConn, index: number): boolean {
  return conn.watched.length === 1 && conn.watched[0] === parkingTubeOf(session, index);
}
