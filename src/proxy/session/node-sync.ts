/**
 * A client's connections to the nodes, kept in line with its tube state (tube-state.ts) so that
 * every node sees exactly its share of that state (stats-tube's current-using / current-watching /
 * waiting then match one beanstalkd):
 *
 * - node n's connection uses the client's used tube U if n holds U (owns it, or holds some of its
 *   jobs as a previous owner: routing.ts), else n's parking tube;
 * - it watches the client's watched tubes that n holds; if none, only n's parking tube.
 *
 * A fresh connection uses and watches `default`, which only its owner node ever reports on (all
 * commands naming `default` go there), so elsewhere `default` is the parking tube and costs
 * nothing. On the node that owns `default` the parking tube is PARKING_TUBE, a tube no client
 * routes to: always empty, hidden from list-tubes and current-tubes by the proxy. Reserving on a
 * parked connection can never take a job, which the stock reserve path uses to catch
 * DEADLINE_SOON. Commands sent here are the proxy's own (overhead in merged stats).
 *
 * State changes are acknowledged before the client hears of them: the replies to use, watch and
 * ignore (and anything that reads nodes over other connections: list-tubes, stats) wait for
 * `pending`, so once a client reads `WATCHING n` every other client sees the tube, as with one
 * beanstalkd.
 */
import type { Request } from '../../protocol/commands';
import { requestLine } from '../../protocol/request-line';
import type { NodeChannel, NodeDirectory, NodeHandle } from '../types';
import type { TubeState } from './tube-state';

/** Reserved tube name: connections that must watch/use nothing visible park here. */
export const PARKING_TUBE = 'stalkd.parking';

type StateRequest = Request & { op: 'use' | 'watch' | 'ignore' };

/** This client's connection to one node and the node-side state of it. */
export class NodeConn {
  /** The node-side used tube of this connection. */
  used = 'default';
  /** The node-side watch list of this connection. */
  readonly watched = new Set<string>(['default']);
  /** The tube state version this connection was last brought in line with. */
  syncedVersion = -1;
  /** The routing version it was brought in line under. */
  syncedRouting = -1;
  /** Node-local ids reserved over this connection (TTR expiry is not seen, so a superset). */
  private readonly reservedIds = new Set<number>();

  constructor(
    readonly index: number,
    readonly link: NodeHandle,
    readonly backend: NodeChannel,
    /** Ids this client held on node `index` over connections that closed since (NodeSync.lostOf). */
    private readonly lost: Set<number>,
  ) {}

  get open(): boolean {
    return this.backend.state !== 'closed';
  }

  get holdsReservations(): boolean {
    return this.reservedIds.size > 0;
  }

  /** True when job `nodeId` was reserved over this connection (and not given up since). */
  holds(nodeId: number): boolean {
    return this.reservedIds.has(nodeId);
  }

  /** The node handed this connection job `nodeId`: the client holds it (again). */
  reserved(nodeId: number): void {
    this.reservedIds.add(nodeId);
    this.lost.delete(nodeId);
  }

  /** The connection is gone: every reservation made over it ended with it. */
  loseReservations(): void {
    for (const id of this.reservedIds) {
      this.lost.delete(id); // re-added as the newest
      this.lost.add(id);
      if (this.lost.size > LOST_MAX) this.lost.delete(this.lost.values().next().value as number);
    }
    this.reservedIds.clear();
  }

  /** Keeps the reservations in step with what a reply to `op` on job `nodeId` says. */
  trackReply(op: Request['op'], nodeId: number, line: string): void {
    if (op === 'reserve-job' && line.startsWith('RESERVED ')) this.reserved(nodeId);
    else if (op === 'delete' || op === 'release' || op === 'bury') {
      if (line !== 'NOT_FOUND') this.reservedIds.delete(nodeId);
    } else if (op === 'touch' && line === 'NOT_FOUND') this.reservedIds.delete(nodeId);
  }

  /** Sends a state command of the proxy's own; returns its reply's promise. */
  sendState(req: StateRequest, sent: Promise<unknown>[]): void {
    this.link.countOverhead(req.op);
    sent.push(this.backend.request(requestLine(req)));
  }
}

export class NodeSync {
  private readonly conns = new Map<number, NodeConn>();
  /** Per node: ids reserved over connections that closed since (see reservationLost). */
  private readonly lost = new Map<number, Set<number>>();
  /**
   * What connections opened since the last state change sent to bring themselves in line (and
   * their `connected`): the reply to that change waits for it too. Cleared by every change.
   */
  private readonly opening: Promise<unknown>[] = [];
  /** State changes not yet acknowledged by the nodes. */
  private pendingSync: Promise<unknown> | null = null;

  constructor(
    private readonly tubes: TubeState,
    private readonly nodes: NodeDirectory,
    /** See ProxyContext.eagerState. */
    private readonly eager: boolean,
    /** Called when every state change so far is acknowledged. */
    private readonly onSettled: () => void,
  ) {}

  /** Settles once the state changes made so far are acknowledged; null when none is pending. */
  get pending(): Promise<unknown> | null {
    return this.pendingSync;
  }

  /** The client's connection to node `index`, opened with the client's state if needed; null when down. */
  connTo(index: number): NodeConn | null {
    const existing = this.conns.get(index);
    if (existing?.open && existing.link.up) return existing;
    const link = this.nodes.get(index);
    const backend = link?.openBackend();
    if (!link || !backend) return null;
    existing?.loseReservations();
    const conn = new NodeConn(index, link, backend, this.lostOf(index));
    this.conns.set(index, conn);
    if (this.opening.length < OPENING_MAX) this.opening.push(backend.connected, ...this.syncConn(conn));
    else this.syncConn(conn);
    return conn;
  }

  /** The client's first request: the nodes that must show its state get a connection. */
  start(): void {
    if (this.eager) for (const index of this.tubes.stateNodes()) this.connTo(index);
    const sent: Promise<unknown>[] = this.opening.splice(0);
    for (const conn of this.conns.values()) if (conn.open) sent.push(...this.syncConn(conn));
    this.await(sent);
  }

  /** After `use`: every connection's used tube (the owner uses it, the others park). */
  usedChanged(): void {
    this.changed((conn) => {
      const sent: Promise<unknown>[] = [];
      this.syncUsed(conn, sent);
      return sent;
    });
  }

  /** After `watch tube` / `ignore tube`: only the connections of its holders change, by one tube. */
  watchChanged(tube: string): void {
    this.changed((conn) => this.syncWatchChange(conn, tube));
  }

  /** Before put, peek-ready/-delayed/-buried and kick: only the used tube matters (hot path). */
  syncUse(conn: NodeConn): void {
    if (conn.used !== this.tubes.used) this.syncUsed(conn, []);
  }

  /** True when `conn` was brought in line with the current state and routing. */
  private inLine(conn: NodeConn): boolean {
    return conn.syncedVersion === this.tubes.version && conn.syncedRouting === this.tubes.routingVersion;
  }

  /**
   * Brings the node-side used tube and watch list of `conn` in line. Returns the requests sent.
   * O(watch list); skipped when nothing changed since the connection was last brought in line.
   */
  syncConn(conn: NodeConn): Promise<unknown>[] {
    const sent: Promise<unknown>[] = [];
    if (this.inLine(conn)) return sent;
    this.syncUsed(conn, sent);
    const desired = this.tubes.watchedOn(conn.index);
    const target = desired.length > 0 ? desired : [this.parkingTubeOf(conn.index)];
    for (const tube of target) {
      if (!conn.watched.has(tube)) {
        conn.sendState({ op: 'watch', tube }, sent);
        conn.watched.add(tube);
      }
    }
    const keep = new Set(target);
    for (const tube of [...conn.watched]) {
      if (!keep.has(tube)) {
        conn.sendState({ op: 'ignore', tube }, sent);
        conn.watched.delete(tube);
      }
    }
    conn.syncedVersion = this.tubes.version;
    conn.syncedRouting = this.tubes.routingVersion;
    return sent;
  }

  /** True when the connection watches only its node's parking tube (reserving there takes nothing). */
  isParked(conn: NodeConn): boolean {
    return conn.watched.size === 1 && conn.watched.has(this.parkingTubeOf(conn.index));
  }

  /** True when this client holds reservations over an open connection to a node other than `index`. */
  holdsReservationsOff(index: number): boolean {
    for (const [i, conn] of this.conns) if (i !== index && conn.holdsReservations && conn.open) return true;
    return false;
  }

  /**
   * True when this client reserved job `nodeId` on node `index` over a connection that has closed
   * since (a failover, a node restart or time-out ended it there) and has not reserved it again:
   * the job is no longer its to delete, release, bury or touch (docs/failover.md).
   */
  reservationLost(index: number, nodeId: number): boolean {
    const conn = this.conns.get(index);
    if (conn && !conn.open && conn.holds(nodeId)) return true;
    return this.lost.get(index)?.has(nodeId) ?? false;
  }

  private lostOf(index: number): Set<number> {
    let ids = this.lost.get(index);
    if (!ids) {
      ids = new Set();
      this.lost.set(index, ids);
    }
    return ids;
  }

  /** Open connections. */
  openConns(): NodeConn[] {
    return [...this.conns.values()].filter((c) => c.open);
  }

  /** Closes every connection (the nodes release this client's reservations). */
  closeAll(): void {
    for (const conn of this.conns.values()) conn.link.releaseBackend(conn.backend);
    this.conns.clear();
  }

  private parkingTubeOf(index: number): string {
    return this.tubes.holds(index, 'default') ? PARKING_TUBE : 'default';
  }

  /**
   * One change of the used tube or the watch list (already made in `tubes`): the nodes that must
   * now show this client's state get a connection (eager), connections that were in line get the
   * change alone (`apply`, O(1) for watch/ignore), any other one a full sync.
   */
  private changed(apply: (conn: NodeConn) => Promise<unknown>[]): void {
    const before = this.tubes.version - 1;
    const routing = this.tubes.routingVersion;
    if (this.eager) {
      this.connTo(this.tubes.ownerOf(this.tubes.used));
      const last = this.tubes.watched[this.tubes.watched.length - 1];
      if (last !== undefined) this.connTo(this.tubes.ownerOf(last));
    }
    const sent: Promise<unknown>[] = this.opening.splice(0);
    for (const conn of this.conns.values()) {
      if (!conn.open) continue;
      if (conn.syncedVersion !== before || conn.syncedRouting !== routing) sent.push(...this.syncConn(conn));
      else {
        sent.push(...apply(conn));
        conn.syncedVersion = this.tubes.version;
      }
    }
    this.await(sent);
  }

  /** Later replies wait until `sent` settles. */
  private await(sent: Promise<unknown>[]): void {
    if (sent.length === 0) return;
    const settled: Promise<unknown> = Promise.all([this.pendingSync, ...sent]).then(() => {
      if (this.pendingSync !== settled) return;
      this.pendingSync = null;
      this.onSettled();
    });
    this.pendingSync = settled;
  }

  private syncUsed(conn: NodeConn, sent: Promise<unknown>[]): void {
    const used = this.tubes.used;
    const use = this.tubes.holds(conn.index, used) ? used : this.parkingTubeOf(conn.index);
    if (conn.used !== use) {
      conn.sendState({ op: 'use', tube: use }, sent);
      conn.used = use;
    }
  }

  /**
   * After `watch tube` / `ignore tube` on a connection that was in line before: one tube changes
   * (and the parking tube when the node's share becomes empty or stops being empty). O(1), so a
   * client may watch 10,000 tubes.
   */
  private syncWatchChange(conn: NodeConn, tube: string): Promise<unknown>[] {
    const sent: Promise<unknown>[] = [];
    const parking = this.parkingTubeOf(conn.index);
    if (this.tubes.isWatching(tube) && this.tubes.holds(conn.index, tube)) {
      if (!conn.watched.has(tube)) {
        conn.sendState({ op: 'watch', tube }, sent);
        conn.watched.add(tube);
      }
      if (conn.watched.has(parking) && tube !== parking) {
        conn.sendState({ op: 'ignore', tube: parking }, sent);
        conn.watched.delete(parking);
      }
    } else if (conn.watched.has(tube)) {
      if (tube === parking && conn.watched.size === 1) return sent;
      if (conn.watched.size === 1) {
        conn.sendState({ op: 'watch', tube: parking }, sent);
        conn.watched.add(parking);
      }
      conn.sendState({ op: 'ignore', tube }, sent);
      conn.watched.delete(tube);
    }
    return sent;
  }
}

/**
 * Ids remembered per node as reserved over a closed connection; beyond this many the oldest are
 * forgotten (a delete of one of those goes to the node again, with beanstalkd's rules).
 */
const LOST_MAX = 4096;

/**
 * Connections opened between two state changes (by puts, id commands, reserves) whose catch-up a
 * change's reply still waits for; beyond this many (nodes flapping for a client that never
 * changes its state) the oldest are long settled and are not kept.
 */
const OPENING_MAX = 256;
