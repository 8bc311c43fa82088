/**
 * One client connection to the proxy.
 *
 * State mirrors one beanstalkd connection: the used tube, the watch list (beanstalkd's order,
 * swap-remove on ignore), producer/worker flags. Backend connections are opened per node on first
 * need (`NodeConn`), and their node-side state is brought in line with the client's lazily:
 * `use` before put, peek-ready/-delayed/-buried and kick, `watch`/`ignore` eagerly when the client changes its watch list
 * (so stats-tube's current-watching is right) and again before any reserve.
 *
 * Ordering: every parsed command gets a slot; replies leave strictly in slot order. Commands are
 * dispatched in order under one rule that keeps beanstalkd's causality: requests may be pipelined
 * to one node at a time; a command for another node waits until the earlier ones are answered.
 * A reserve one node can answer alone is pipelined to that node, which holds what follows it
 * until the wait ends. Reserves that span nodes, fan-outs (stats, list-tubes) and quit are
 * barriers: they start when nothing is outstanding and nothing starts until they finish — as
 * beanstalkd stops reading a connection that waits in reserve.
 *
 * Bounds (docs/limits.md): reading pauses while MAX_QUEUED_SLOTS commands or maxInputBytes of put
 * bodies are queued, or while the socket needs a drain; dispatch waits while maxInflight requests
 * are outstanding on the node connection or more than maxOutputBytes of replies are unsent; a
 * partial request or unread output over the bound is closed after the request timeout
 * (src/net/stall-watch.ts).
 */
import type { Socket } from 'node:net';
import type { Stallable, StallWatch } from '../net/stall-watch';
import type { Request } from '../protocol/commands';
import { RequestParser } from '../protocol/parser';
import { REPLY, type ReplyBytes } from '../protocol/replies';
import type { Backend } from './backend';
import { ownerIndex, stateNodes, syncConn, syncUseChange, syncWatchChange } from './conn-sync';
import { Forward } from './forward';
import { type ClientRequest, dispatchTarget, localErrorOf, runRequest, type Target } from './handlers';
import type { NodeLink, NodePool } from './node-pool';
import { OutBatch } from './out-batch';
import type { Placement } from './ring';
import type { ProxyCounters } from './stats-merge';

/** What sessions report (ProxyMetricsRecorder fits); all optional work is skipped when absent. */
export interface SessionEvents {
  command(cmd: string, result: string, seconds: number): void;
  reserveWait(cmd: string, result: string, seconds: number): void;
  fanout(cmd: string, seconds: number): void;
}

export interface ProxyContext {
  events: SessionEvents | null;
  placement: Placement;
  pool: NodePool;
  counters: ProxyCounters;
  maxJobBytes: number;
  /** Stock-node reserve: length of one blocking wait slice, seconds. */
  reserveSliceSec: number;
  /**
   * Open connections to the nodes that own the client's used and watched tubes as soon as its
   * state names them (first command, use, watch), so stats-tube counts it as one beanstalkd
   * would; off: only when a command needs the node.
   */
  eagerState: boolean;
  /** Requests outstanding on one client's node connection before dispatch waits. */
  maxInflight: number;
  /** Unsent reply bytes to one client before dispatch waits. */
  maxOutputBytes: number;
  /** Queued put-body bytes from one client before reading pauses. */
  maxInputBytes: number;
  stalls: StallWatch;
}

/** This client's connection to one node. */
export interface NodeConn {
  link: NodeLink;
  backend: Backend;
  /** The node-side used tube of this connection. */
  used: string;
  /** The node-side watch list of this connection. */
  watched: Set<string>;
  /** The session's stateVersion this connection was last brought in line with. */
  syncedVersion: number;
  /** Node-local ids reserved over this connection (TTR expiry is not seen, so a superset). */
  reserved: Set<number>;
}

interface Slot {
  req: Request;
  reply: ReplyBytes | null;
  /** performance.now() when dispatched (metrics only). */
  startedAtMs: number;
}

/** Stop reading the client while this many commands wait for dispatch or replies. */
const MAX_QUEUED_SLOTS = 1024;

export class ClientSession implements Stallable {
  used = 'default';
  /** The watch list in beanstalkd's order (list-tubes-watched); `watching` mirrors it. */
  watched: string[] = ['default'];
  private readonly watching = new Set<string>(['default']);
  /** Bumped by every change of the used tube or the watch list. */
  stateVersion = 0;
  watchedNodesCache: { version: number; nodes: number[] } = { version: -1, nodes: [] };
  producer = false;
  worker = false;
  closed = false;
  /** Set while a reserve that spans nodes waits: ends it with TIMED_OUT when the client half-closes. */
  abortWait: (() => void) | null = null;
  /** Reserves started and not yet answered (several when pipelined to one node). */
  private waits = 0;
  private readonly conns = new Map<number, NodeConn>();
  /** Commands in arrival order; [head, dispatched) started, [dispatched, length) waiting. */
  private readonly slots: Slot[] = [];
  /** slots[head] is the oldest reply not yet written. */
  private head = 0;
  private dispatched = 0;
  private flushScheduled = false;
  private outstanding = 0;
  private activeNode = -1;
  private barrier = false;
  private inputEnded = false;
  /** `quit` was read: nothing after it runs (beanstalkd closes the connection at once). */
  private quitRead = false;
  private started = false;
  /**
   * What connections opened since the last state change sent to bring themselves in line (and
   * their `connected`): the reply to that change waits for it too.
   */
  private readonly opening: Promise<unknown>[] = [];
  /** State changes not yet acknowledged by the nodes; local replies wait for them. */
  private pendingSync: Promise<unknown> | null = null;
  private readPaused = false;
  /** Dispatch stopped because more than maxOutputBytes are unsent; the next drain restarts it. */
  private outputBlocked = false;
  /** Put-body bytes held by queued slots (released when the reply is written). */
  private queuedBodyBytes = 0;
  /** In ctx.stalls (partial request, or unread output over the bound / after close). */
  private stalled = false;
  /** A request arrived or output drained since the last stall check. */
  private progressed = false;
  /** The node's own request framing, x-* extensions refused (clients never reach them). */
  private readonly reader: RequestParser;
  /** Replies leaving in this flush (one write). */
  private readonly out = new OutBatch();

  constructor(
    readonly ctx: ProxyContext,
    private readonly socket: Socket,
  ) {
    this.reader = new RequestParser(ctx.maxJobBytes, false);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let req = this.reader.next(); req !== undefined; req = this.reader.next()) this.onRequest(req);
      this.updateStall();
    });
    socket.on('end', () => this.onInputEnd());
    socket.on('error', () => this.close());
    socket.on('close', () => {
      this.close();
      this.setStalled(false);
    });
    socket.on('drain', () => this.onDrain());
    ctx.counters.currentConnections++;
    ctx.counters.totalConnections++;
  }

  /** The client's connection to node `index`, opened with the client's state if needed; null when down. */
  connTo(index: number): NodeConn | null {
    const existing = this.conns.get(index);
    if (existing && existing.backend.state !== 'closed' && existing.link.up) return existing;
    const link = this.ctx.pool.get(index);
    const backend = link?.openBackend();
    if (!link || !backend) return null;
    const conn: NodeConn = {
      link,
      backend,
      used: 'default',
      watched: new Set(['default']),
      syncedVersion: -1,
      reserved: new Set(),
    };
    this.conns.set(index, conn);
    this.opening.push(backend.connected, ...syncConn(this, conn, index));
    return conn;
  }

  /**
   * After the client's used tube or watch list changed (and on its first command): the nodes
   * that must show this client's state get a connection, and every open one is brought in line.
   */
  syncState(): Promise<unknown>[] {
    if (this.ctx.eagerState) for (const index of stateNodes(this)) this.connTo(index);
    const sent: Promise<unknown>[] = this.opening.splice(0);
    for (const [index, conn] of this.conns) {
      if (conn.backend.state !== 'closed') sent.push(...syncConn(this, conn, index));
    }
    return sent;
  }

  isWatching(tube: string): boolean {
    return this.watching.has(tube);
  }

  /** `watch tube`: true when the list changed. */
  watch(tube: string): boolean {
    if (this.watching.has(tube)) return false;
    this.watching.add(tube);
    this.watched.push(tube);
    this.changed((conn, index) =>
      index === ownerIndex(this, tube) ? syncWatchChange(this, conn, index, tube) : [],
    );
    return true;
  }

  /** `ignore tube` (the caller has refused to drop the last one). */
  ignore(tube: string): void {
    const at = this.watched.indexOf(tube);
    if (at < 0) return;
    this.watching.delete(tube);
    // beanstalkd removes by moving the last entry into the hole.
    const last = this.watched.pop() as string;
    if (at < this.watched.length) this.watched[at] = last;
    this.changed((conn, index) =>
      index === ownerIndex(this, tube) ? syncWatchChange(this, conn, index, tube) : [],
    );
  }

  use(tube: string): void {
    if (tube === this.used) return;
    this.used = tube;
    this.changed((conn, index) => syncUseChange(this, conn, index));
  }

  /**
   * One change of the used tube or the watch list: the nodes that must now show this client's
   * state get a connection (eagerState), connections that were in line get the change alone
   * (`apply`, O(1) for watch/ignore), any other one a full sync. Replies to use/watch/ignore wait
   * for what was sent (awaitSync).
   */
  private changed(apply: (conn: NodeConn, index: number) => Promise<unknown>[]): void {
    const before = this.stateVersion++;
    this.awaitSync(this.bringInLine(before, apply));
  }

  private bringInLine(
    before: number,
    apply: (conn: NodeConn, index: number) => Promise<unknown>[],
  ): Promise<unknown>[] {
    if (this.ctx.eagerState) {
      this.connTo(ownerIndex(this, this.used));
      const last = this.watched[this.watched.length - 1];
      if (last !== undefined) this.connTo(ownerIndex(this, last));
    }
    const sent: Promise<unknown>[] = this.opening.splice(0);
    for (const [index, conn] of this.conns) {
      if (conn.backend.state === 'closed') continue;
      if (conn.syncedVersion !== before) sent.push(...syncConn(this, conn, index));
      else {
        sent.push(...apply(conn, index));
        conn.syncedVersion = this.stateVersion;
      }
    }
    return sent;
  }

  /** True when this client holds reservations over an open connection to a node other than `index`. */
  holdsReservationsOff(index: number): boolean {
    for (const [i, conn] of this.conns)
      if (i !== index && conn.reserved.size > 0 && conn.backend.state !== 'closed') return true;
    return false;
  }

  allConns(): NodeConn[] {
    return [...this.conns.values()].filter((c) => c.backend.state !== 'closed');
  }

  /** Ends the session; `graceful` lets replies already written reach the client first. */
  close(graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.abortWait = null;
    const c = this.ctx.counters;
    c.currentConnections--;
    if (this.producer) c.currentProducers--;
    if (this.worker) c.currentWorkers--;
    if (this.waiting) c.currentWaiting--;
    for (const conn of this.conns.values()) conn.link.releaseBackend(conn.backend);
    this.conns.clear();
    if (graceful) {
      this.socket.end();
      // Replies still unsent must reach the client within the request timeout.
      this.setStalled(this.socket.writableLength > 0);
    } else this.socket.destroy();
  }

  /** Closes at once, also a session already closed gracefully whose output is still pending. */
  terminate(): void {
    this.close();
    this.socket.destroy();
  }

  abortStalled(): void {
    this.stalled = false;
    this.terminate();
  }

  markProducer(): void {
    if (!this.producer) this.ctx.counters.currentProducers++;
    this.producer = true;
  }

  markWorker(): void {
    if (!this.worker) this.ctx.counters.currentWorkers++;
    this.worker = true;
  }

  get waiting(): boolean {
    return this.waits > 0;
  }

  beginWait(): void {
    if (this.waits++ === 0) this.ctx.counters.currentWaiting++;
  }

  endWait(): void {
    if (--this.waits === 0 && !this.closed) this.ctx.counters.currentWaiting--;
  }

  /** Local replies wait until `sent` settles (the first command's connections, for one). */
  awaitSync(sent: Promise<unknown>[]): void {
    if (sent.length === 0) return;
    const settled: Promise<unknown> = Promise.all([this.pendingSync, ...sent]).then(() => {
      if (this.pendingSync !== settled) return;
      this.pendingSync = null;
      this.pump();
    });
    this.pendingSync = settled;
  }

  private onRequest(req: Request): void {
    if (this.closed || this.quitRead) return;
    if (req.op === 'quit') this.quitRead = true;
    if (!this.started) {
      this.started = true;
      this.awaitSync(this.syncState());
    }
    this.slots.push({ req, reply: null, startedAtMs: 0 });
    this.progressed = true;
    this.queuedBodyBytes += bodyBytesOf(req);
    this.pump();
    this.updateReading();
  }

  private onInputEnd(): void {
    this.inputEnded = true;
    // beanstalkd answers a half-closed waiting client TIMED_OUT, then closes it.
    if (this.abortWait) {
      this.slots.length = this.dispatched;
      this.abortWait();
    } else if (this.waiting) this.abortPipelinedWait();
    this.maybeFinish();
  }

  /**
   * A reserve pipelined to a node waits there, holding what was sent behind it: the oldest
   * unanswered reserve answers TIMED_OUT and everything after it is dropped (beanstalkd never
   * reads past a waiting reserve). Closing the node connections afterwards releases any job the
   * node hands over late.
   */
  private abortPipelinedWait(): void {
    for (let i = this.head; i < this.dispatched; i++) {
      const slot = this.slots[i] as Slot;
      if (slot.reply || !WAIT_OPS.has(slot.req.op)) continue;
      slot.reply = REPLY.TIMED_OUT;
      this.slots.length = i + 1;
      this.dispatched = i + 1;
      this.scheduleFlush();
      return;
    }
  }

  private targetOf(req: Request): Target {
    return localErrorOf(req) ? 'local' : dispatchTarget(this, req as ClientRequest);
  }

  /** Starts every command the ordering rule and the bounds allow. */
  private pump(): void {
    while (!this.closed && !this.barrier && this.dispatched < this.slots.length) {
      if (this.socket.writableLength > this.ctx.maxOutputBytes) {
        this.outputBlocked = true;
        this.updateStall();
        return;
      }
      const slot = this.slots[this.dispatched] as Slot;
      const target = this.targetOf(slot.req);
      if (target === 'barrier') {
        // A barrier also waits for state changes still unacknowledged: list-tubes and stats go
        // over other connections, which would otherwise overtake a `watch` on this client's own.
        if (this.outstanding > 0 || this.pendingSync) return;
        this.barrier = true;
      } else if (typeof target === 'number') {
        if (this.outstanding > 0 && this.activeNode !== target) return;
        if (this.outstanding >= this.ctx.maxInflight) return;
        this.activeNode = target;
      }
      this.dispatched++;
      this.start(slot, target);
    }
  }

  private start(slot: Slot, target: Target): void {
    if (this.ctx.events) slot.startedAtMs = performance.now();
    const error = localErrorOf(slot.req);
    if (error) {
      if (error.count) this.ctx.counters.countLocal(error.count);
      this.complete(slot, REPLY[error.word], target);
      return;
    }
    const handled = runRequest(this, slot.req as ClientRequest);
    if (handled instanceof Forward) {
      this.outstanding++;
      handled.conn.backend.send(handled.head, handled.body, handled.timeoutMs, (reply) =>
        this.complete(slot, handled.finish(reply), target, true),
      );
      return;
    }
    let result = handled;
    const pendingSync = this.pendingSync;
    if (target === 'local' && pendingSync) {
      const value = result;
      result = pendingSync.then(() => value);
    }
    if (!(result instanceof Promise)) {
      this.complete(slot, result, target);
      return;
    }
    if (target !== 'local') this.outstanding++;
    result.then(
      (parts) => this.complete(slot, parts, target, true),
      () => this.complete(slot, REPLY.INTERNAL_ERROR, target, true),
    );
  }

  private complete(slot: Slot, parts: ReplyBytes, target: Target, async = false): void {
    slot.reply = parts;
    if (this.ctx.events) reportCommand(this.ctx.events, slot);
    if (async && target !== 'local') this.outstanding--;
    if (target === 'barrier') this.barrier = false;
    if (this.closed) return;
    this.scheduleFlush();
    if (async) this.pump();
  }

  /**
   * Replies completed in one turn of the event loop (a node's chunk resolves many) leave
   * together: one cork/uncork, one writev.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flushSession, this);
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const out = this.out;
    while (this.head < this.dispatched) {
      const slot = this.slots[this.head] as Slot;
      if (!slot.reply) break;
      this.slots[this.head] = undefined as unknown as Slot;
      this.head++;
      this.queuedBodyBytes -= bodyBytesOf(slot.req);
      if (slot.req.op === 'quit') {
        out.writeTo(this.socket);
        this.close(true);
        return;
      }
      if (Buffer.isBuffer(slot.reply)) out.push(slot.reply);
      else for (const part of slot.reply) out.push(part);
    }
    out.writeTo(this.socket);
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.dispatched = this.head = 0;
    } else if (this.head >= 1024) {
      this.slots.splice(0, this.head);
      this.dispatched -= this.head;
      this.head = 0;
    }
    this.updateReading();
    this.updateStall();
    this.maybeFinish();
  }

  private get queuedCount(): number {
    return this.slots.length - this.head;
  }

  private maybeFinish(): void {
    if (this.inputEnded && this.queuedCount === 0 && !this.closed) {
      this.close(true);
    }
  }

  private updateReading(): void {
    if (this.closed) return;
    const pause =
      this.quitRead ||
      this.queuedCount >= MAX_QUEUED_SLOTS ||
      this.queuedBodyBytes >= this.ctx.maxInputBytes ||
      this.socket.writableNeedDrain;
    if (pause && !this.readPaused) this.socket.pause();
    if (!pause && this.readPaused) this.socket.resume();
    this.readPaused = pause;
  }

  private onDrain(): void {
    this.progressed = true;
    if (this.closed) {
      this.setStalled(false);
      return;
    }
    if (this.outputBlocked) {
      this.outputBlocked = false;
      this.pump();
    }
    this.updateReading();
    this.updateStall();
  }

  /** Waiting (in reserve, or on the bounds above) is not stalling; a partial request is. */
  private updateStall(): void {
    if (this.closed) return;
    const partial = !this.readPaused && !this.waiting && this.reader.midRequest;
    this.setStalled(this.outputBlocked || partial);
  }

  private setStalled(stalled: boolean): void {
    if (!stalled && !this.stalled) return;
    this.stalled = stalled;
    this.ctx.stalls.update(this, stalled, this.progressed);
    this.progressed = false;
  }
}

const WAIT_OPS = new Set<string>(['reserve', 'reserve-with-timeout']);
const FANOUT_OPS = new Set<string>(['stats', 'list-tubes']);

function bodyBytesOf(req: Request): number {
  return req.op === 'put' ? req.body.length : 0;
}

function reportCommand(events: SessionEvents, slot: Slot): void {
  const seconds = (performance.now() - slot.startedAtMs) / 1000;
  const op = localErrorOf(slot.req) ? 'unknown' : slot.req.op;
  const head = Buffer.isBuffer(slot.reply) ? slot.reply : slot.reply?.[0];
  const result = head ? firstWord(head) : '';
  if (WAIT_OPS.has(op)) events.reserveWait(op, result, seconds);
  else events.command(op, result, seconds);
  if (FANOUT_OPS.has(op)) events.fanout(op, seconds);
}

/** The reply's first word (up to a space or CR), as its result label. */
function firstWord(head: Buffer): string {
  const end = Math.min(head.length, 24);
  let i = 0;
  while (i < end && head[i] !== 0x20 && head[i] !== 0x0d) i++;
  return head.toString('latin1', 0, i);
}

function flushSession(session: ClientSession): void {
  session.flush();
}
