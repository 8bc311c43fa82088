/**
 * Bringing a client's node connection in line with the client's own state.
 *
 * A fresh node connection uses and watches `default`. For node n the connection must watch
 * exactly the client's watched tubes that n owns; if it owns none, the connection is "parked":
 * it watches `default` when n does not own `default` (n's `default` is then always empty, since
 * every put to `default` goes to its owner, so nothing can be reserved from it), otherwise it
 * keeps whatever it watched (beanstalkd cannot ignore the last tube). The proxy never reserves on
 * a parked connection except to catch DEADLINE_SOON. Commands sent here are the proxy's own, so
 * they are counted as overhead (stats-merge.ts); replies are consumed in FIFO order.
 */
import type { ClientSession, NodeConn } from './session';

export function ownerIndex(session: ClientSession, tube: string): number {
  return session.ctx.placement.ownerOf(tube).index;
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

function sendOwn(conn: NodeConn, line: string, statsKey: string): void {
  conn.link.countOverhead(statsKey);
  void conn.backend.request(line);
}

/** Makes the node-side used tube `tube` before a put, peek-ready/-delayed/-buried and kick. */
export function ensureUse(conn: NodeConn, tube: string): void {
  if (conn.used === tube) return;
  sendOwn(conn, `use ${tube}`, 'cmd-use');
  conn.used = tube;
}

/** Makes the node-side watch list match the client's tubes on node `index` (or parks it). */
export function syncWatches(session: ClientSession, conn: NodeConn, index: number): void {
  const desired = watchedOn(session, index);
  let target = desired;
  if (target.length === 0) {
    if (ownerIndex(session, 'default') === index) return;
    target = ['default'];
  }
  for (const tube of target) {
    if (!conn.watched.includes(tube)) {
      sendOwn(conn, `watch ${tube}`, 'cmd-watch');
      conn.watched.push(tube);
    }
  }
  for (const tube of [...conn.watched]) {
    if (!target.includes(tube)) {
      sendOwn(conn, `ignore ${tube}`, 'cmd-ignore');
      conn.watched.splice(conn.watched.indexOf(tube), 1);
    }
  }
}

/** True when the connection watches only `default` on a node that does not own it. */
export function isParkedEmpty(session: ClientSession, conn: NodeConn, index: number): boolean {
  return (
    conn.watched.length === 1 && conn.watched[0] === 'default' && ownerIndex(session, 'default') !== index
  );
}
