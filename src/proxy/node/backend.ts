/**
 * One TCP connection from the proxy to one node: a client session's own connection (so the
 * node's use/watch state and reservation ownership belong to that client) or a node's shared
 * control channel.
 *
 * Requests are written at once when connected (`inflight`: sent, awaiting reply, FIFO) or queued
 * while connecting (`pending`, bounded). Only the head of `inflight` can be answered next, so only
 * its deadline is watched: it starts when the request reaches the head, which keeps a blocking
 * reserve from charging its wait to the requests pipelined behind it. A request with no deadline
 * (a plain blocking `reserve`) relies on the node's health probe instead.
 *
 * Failure of any kind (connect error, close, reply timeout, garbage) fails every queued request
 * with `null` — callers turn that into INTERNAL_ERROR — and reports to `onFailure` once.
 */
import { connect, type Socket } from 'node:net';
import { atEndOfTick } from '../../net/end-of-tick';
import { socketTarget } from '../../net/endpoint';
import { Fifo } from '../../net/fifo';
import { OutBatch } from '../../net/out-batch';
import { type Reply, ReplyFormatError, ReplyParser } from '../../protocol/reply-parser';
import type { NodeRequest } from '../types';

export type BackendResult = Reply | null;

export interface BackendOptions {
  host: string;
  port: number;
  /** Connect timeout and default reply deadline. */
  timeoutMs: number;
  /** Max requests queued while connecting. */
  maxPending: number;
  /** Called once when the connection fails or closes (not after close()). */
  onFailure: (backend: Backend, reason: string, kind: BackendFailure) => void;
  /** Called for a request refused unsent because `maxPending` were already queued. */
  onRejected?: () => void;
}

/**
 * Why a node connection failed (the `kind` label of stalkd_proxy_backend_errors_total):
 * `connect` — it could not be opened; `timeout` — no reply (or no connect) in time; `closed` — the
 * node closed or reset an open connection; `protocol` — the node sent bytes that are not a reply
 * to what was asked; `rejected` — a request refused unsent, the queue to a connecting node full.
 */
export const BackendFailure = {
  Connect: 'connect',
  Timeout: 'timeout',
  Closed: 'closed',
  Protocol: 'protocol',
  Rejected: 'rejected',
} as const;
export type BackendFailure = (typeof BackendFailure)[keyof typeof BackendFailure];

type Request = NodeRequest;

export const BackendState = { Connecting: 'connecting', Open: 'open', Closed: 'closed' } as const;
export type BackendState = (typeof BackendState)[keyof typeof BackendState];

/** Every live backend, for the deadline sweep (one timer for the whole process). */
const watched = new Set<Backend>();
let sweepTimer: NodeJS.Timeout | null = null;
const SWEEP_INTERVAL_MS = 50;

/**
 * Deadlines are armed on every reply, so they read a clock the sweep refreshes rather than
 * Date.now(): a deadline may start up to one sweep interval early (reply deadlines are seconds).
 */
let coarseNowMs = Date.now();
/** When the sweep last ran, ms since epoch. */
let sweptAtMs = coarseNowMs;

/**
 * A sweep later than its interval means this process did not run meanwhile (a long turn, a GC
 * pause, no CPU to be had): a reply that arrived then is still unread — timers run before the
 * loop polls its sockets — and a deadline armed then read a clock that stood still. The stall is
 * the proxy's, not the node's, so every armed deadline moves on by it before any is judged.
 */
function sweepDeadlines(): void {
  const nowMs = Date.now();
  const stalledMs = Math.max(0, nowMs - sweptAtMs - SWEEP_INTERVAL_MS);
  sweptAtMs = nowMs;
  coarseNowMs = nowMs;
  for (const backend of watched) backend.checkDeadline(nowMs, stalledMs);
}

function track(backend: Backend, on: boolean): void {
  if (on) {
    watched.add(backend);
    if (!sweepTimer) {
      coarseNowMs = Date.now();
      sweptAtMs = coarseNowMs;
      sweepTimer = setInterval(sweepDeadlines, SWEEP_INTERVAL_MS);
      sweepTimer.unref();
    }
  } else {
    watched.delete(backend);
    if (watched.size === 0 && sweepTimer) {
      clearInterval(sweepTimer);
      sweepTimer = null;
    }
  }
}

/**
 * Every node connection reads into this one buffer (`net`'s `onread` option: no Buffer per read,
 * no stream 'data' event); the reply parser copies whatever outlives a read (bodies, a partial line).
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);

function resolveAllNull(reqs: Request[]): void {
  for (const req of reqs) req.resolve(null);
}

function resolveNull(req: Request): void {
  req.resolve(null);
}

export class Backend {
  state: BackendState = BackendState.Connecting;
  /** flushWrites at the end of this tick (src/net/end-of-tick.ts). */
  private readonly flushLater = (): void => this.flushWrites();
  private readonly socket: Socket;
  private readonly inflight = new Fifo<Request>();
  private readonly pending: Request[] = [];
  /** Deadline of the head request (or of connecting), ms since epoch; Infinity when none. */
  private headDeadlineAtMs: number;
  private readonly reader: ReplyParser;
  /** Requests written in this tick, sent together at its end. */
  private readonly out = new OutBatch();
  /** Resolves true once connected, false if the connection failed first. */
  readonly connected: Promise<boolean>;
  /**
   * The owner calls flushWrites() itself (a put lane, once per event-loop turn for many clients);
   * otherwise the writes of each tick leave at its end.
   */
  manualFlush = false;
  private settleConnected: (ok: boolean) => void = () => {};

  constructor(private readonly options: BackendOptions) {
    this.headDeadlineAtMs = Date.now() + options.timeoutMs;
    this.connected = new Promise((resolve) => {
      this.settleConnected = resolve;
    });
    this.reader = new ReplyParser((reply) => this.onReply(reply));
    const onread = {
      buffer: readBuffer,
      callback: (bytes: number): boolean => {
        this.onData(readBuffer.subarray(0, bytes));
        return true;
      },
    };
    this.socket = connect({ ...socketTarget(options.host, options.port), onread });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('error', (err) => this.fail(err.message, this.openedKind()));
    this.socket.on('close', () => this.fail('connection closed by node', this.openedKind()));
    track(this, true);
  }

  get queuedCount(): number {
    return this.inflight.length + this.pending.length;
  }

  /** Sends `head` (a command line without CRLF) and optional `body` (with its CRLF). */
  request(
    head: string,
    body?: Buffer,
    timeoutMs: number | null = this.options.timeoutMs,
  ): Promise<BackendResult> {
    return new Promise((resolve) => this.send(head, body, timeoutMs, resolve));
  }

  /** As request(), with a callback, always called later (the proxy's per-command hot path: no promise). */
  send(
    head: string,
    body: Buffer | undefined,
    timeoutMs: number | null,
    resolve: (result: BackendResult) => void,
  ): void {
    this.submit({ head, body, timeoutMs, resolve });
  }

  /** As send(), with the request its own callback (a Forward: no object or closure per command). */
  submit(req: Request): void {
    // Never called back from inside submit(): callers may be mid-dispatch.
    if (this.state === BackendState.Closed) {
      process.nextTick(resolveNull, req);
      return;
    }
    if (this.state === BackendState.Connecting) {
      if (this.pending.length < this.options.maxPending) this.pending.push(req);
      else {
        this.options.onRejected?.();
        process.nextTick(resolveNull, req);
      }
      return;
    }
    this.write(req);
  }

  get replyTimeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** Closes the connection; the node releases this connection's reservations. */
  close(): void {
    if (this.state === BackendState.Closed) return;
    this.state = BackendState.Closed;
    this.settleConnected(false);
    track(this, false);
    this.socket.destroy();
    this.failAll();
  }

  /** `stalledMs`: time this process itself did not run since the last check (not the node's). */
  checkDeadline(nowMs: number, stalledMs: number): void {
    this.headDeadlineAtMs += stalledMs;
    if (nowMs >= this.headDeadlineAtMs) this.fail('node did not answer in time', BackendFailure.Timeout);
  }

  /**
   * Requests written in one turn of the event loop (every request parsed from one client read,
   * every follow-up started by one node reply chunk) leave in one write at the end of the tick.
   */
  private write(req: Request): void {
    if (this.inflight.length === 0) this.armHead(req);
    this.inflight.push(req);
    if (this.out.empty && !this.manualFlush) atEndOfTick(this.flushLater);
    this.out.pushLine(req.head);
    if (req.body) this.out.push(req.body);
  }

  /** The end of the tick that first wrote since the last flush (see write). */
  flushWrites(): void {
    if (this.state !== BackendState.Closed) this.out.writeTo(this.socket);
  }

  private armHead(req: Request | undefined): void {
    this.headDeadlineAtMs =
      req && req.timeoutMs !== null ? coarseNowMs + req.timeoutMs : Number.POSITIVE_INFINITY;
  }

  private onConnect(): void {
    if (this.state !== BackendState.Connecting) return;
    this.state = BackendState.Open;
    this.settleConnected(true);
    this.armHead(undefined);
    for (const req of this.pending) this.write(req);
    this.pending.length = 0;
    if (this.manualFlush) this.flushWrites();
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof ReplyFormatError)) throw err;
      this.fail(err.message, BackendFailure.Protocol);
    }
  }

  private onReply(reply: Reply): void {
    if (reply.line === 'NOT_PRIMARY') {
      // A member that is no longer its shard's primary (docs/replication.md): nothing was changed;
      // the connection is no use for this shard's commands. The failover watch finds the primary.
      this.fail('member is not the primary', BackendFailure.Closed);
      return;
    }
    const req = this.inflight.peek();
    if (!req) {
      this.fail(`unexpected reply "${reply.line}"`, BackendFailure.Protocol);
      return;
    }
    if (reply.word === 'RESERVED' && !reservesJob(req.head)) {
      // Replies and requests no longer line up (a node that reordered its replies): the job would
      // stay reserved on this connection, unseen, until its TTR. Closing the connection gives it
      // back at once (docs/failover.md, "A lost delivery").
      this.fail(`RESERVED in reply to "${req.head}"`, BackendFailure.Protocol);
      return;
    }
    this.inflight.shift();
    this.armHead(this.inflight.peek());
    req.resolve(reply);
  }

  private failAll(): void {
    const reqs = [...this.inflight.drain(), ...this.pending];
    this.pending.length = 0;
    // Later, as send() promises: close() may run in the middle of a caller's dispatch.
    if (reqs.length > 0) process.nextTick(resolveAllNull, reqs);
  }

  /** A socket error or close: before the connection opened it could not be made at all. */
  private openedKind(): BackendFailure {
    return this.state === BackendState.Connecting ? BackendFailure.Connect : BackendFailure.Closed;
  }

  private fail(reason: string, kind: BackendFailure): void {
    if (this.state === BackendState.Closed) return;
    this.close();
    this.options.onFailure(this, reason, kind);
  }
}

/** True for the requests a RESERVED answers: reserve, reserve-with-timeout, reserve-job, x-reserve-wait. */
function reservesJob(head: string): boolean {
  return head.startsWith('reserve') || head.startsWith('x-reserve-wait');
}
