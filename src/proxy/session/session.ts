/**
 * One client connection to the proxy: its socket, and the parts that make it one beanstalkd
 * connection — tube state (tube-state.ts), node connections kept in line with it (node-sync.ts),
 * request ordering (reply-queue.ts) and reserve state (reserve/state.ts). The session owns them and
 * the client-facing duties: reading, flushing replies, backpressure, stall detection, counters.
 *
 * Bounds (docs/limits.md): reading pauses while MAX_QUEUED_REQUESTS requests or maxInputBytes of
 * put bodies are queued, or while the socket needs a drain; requests wait while maxInflight are
 * outstanding on the node connection or more than maxOutputBytes of replies are unsent; a partial
 * request or unread output over the bound is closed after the request timeout
 * (src/net/stall-watch.ts). `quit` is a hard stop: nothing read after it runs.
 */
import type { Socket } from 'node:net';
import { pendingOutput } from '../../net/direct-write';
import { atEndOfTick } from '../../net/end-of-tick';
import { OutBatch } from '../../net/out-batch';
import type { Stallable } from '../../net/stall-watch';
import { readInto } from '../../net/user-buffer-read';
import type { Request } from '../../protocol/commands';
import { RequestParser } from '../../protocol/parser';
import { REPLY, type ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import { dispatchTarget, localErrorOf, runRequest } from '../handlers';
import { Forward, type ForwardSink } from '../node/forward';
import { ReserveState } from '../reserve/state';
import type { ClientRequest, ProxyContext, SessionEvents, Target } from '../types';
import { NodeSync } from './node-sync';
import { ReplyQueue, type Slot } from './reply-queue';
import { TubeState } from './tube-state';

/** Stop reading the client while this many requests wait to run or to be answered. */
const MAX_QUEUED_REQUESTS = 1024;

export class ClientSession implements Stallable, ForwardSink {
  readonly tubes: TubeState;
  readonly nodes: NodeSync;
  readonly reserve = new ReserveState();
  private readonly queue: ReplyQueue;
  producer = false;
  worker = false;
  closed = false;
  /** Reserves started and not yet answered (several when pipelined to one node). */
  private waits = 0;
  private flushScheduled = false;
  private inputEnded = false;
  /** `quit` was read: nothing after it runs (beanstalkd closes the connection at once). */
  private quitRead = false;
  private started = false;
  private readPaused = false;
  /** Requests wait because more than maxOutputBytes are unsent; the next drain restarts them. */
  private outputBlocked = false;
  /** Put-body bytes held by queued requests (released when the reply is written). */
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
    this.tubes = new TubeState(ctx.routing);
    this.nodes = new NodeSync(this.tubes, ctx.pool, ctx.eagerState, () => this.queue.pump());
    this.queue = new ReplyQueue(
      {
        targetOf: (req) => this.targetOf(req),
        mayStart: () => this.mayStart(),
        start: (slot, target) => this.start(slot, target),
        syncPending: () => this.nodes.pending !== null,
      },
      ctx.maxInflight,
    );
    this.reader = new RequestParser(ctx.maxJobBytes, false, ctx.dialect);
    socket.setNoDelay(true);
    // A plain TCP client accepted paused (server.ts) reads into the proxy's one read buffer: the
    // parser copies what outlives the read (RequestParser.detach). TLS clients read 'data'.
    if (!readInto(socket, ctx.readBuffer, (bytes, buffer) => this.onRead(buffer, bytes)))
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
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

  use(tube: string): void {
    if (this.tubes.use(tube)) this.nodes.usedChanged();
  }

  watch(tube: string): void {
    if (this.tubes.watch(tube)) this.nodes.watchChanged(tube);
  }

  /** `ignore tube` (the caller has refused to drop the last one). */
  ignore(tube: string): void {
    if (this.tubes.ignore(tube)) this.nodes.watchChanged(tube);
  }

  /** Ends the session; `graceful` lets replies already written reach the client first. */
  close(graceful = false): void {
    if (this.closed) return;
    this.closed = true;
    this.reserve.onAbort(null);
    const c = this.ctx.counters;
    c.currentConnections--;
    if (this.producer) c.currentProducers--;
    if (this.worker) c.currentWorkers--;
    if (this.waiting) c.currentWaiting--;
    this.nodes.closeAll();
    if (graceful) {
      this.socket.end();
      // Replies still unsent must reach the client within the request timeout.
      this.setStalled(pendingOutput(this.socket) > 0);
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

  /** Writes the replies answered so far, in request order (one write per flush). */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const out = this.out;
    let quit = false;
    this.queue.takeAnswered((slot) => {
      this.queuedBodyBytes -= bodyBytesOf(slot.req);
      if (slot.req.op === 'quit') {
        quit = true;
        return false;
      }
      const reply = slot.reply as ReplyBytes;
      if (Buffer.isBuffer(reply)) out.push(reply);
      else for (const part of reply) out.push(part);
      return true;
    });
    out.writeTo(this.socket);
    if (quit) {
      this.close(true);
      return;
    }
    this.updateReading();
    this.updateStall();
    this.maybeFinish();
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (let req = this.reader.next(); req !== undefined; req = this.reader.next()) this.onRequest(req);
    this.updateStall();
  }

  /** The first `bytes` of the shared read buffer (valid only until this returns). */
  private onRead(buffer: Buffer, bytes: number): void {
    this.onData(buffer.subarray(0, bytes));
    this.reader.detach();
  }

  private onRequest(req: Request): void {
    if (this.closed || this.quitRead) return;
    if (req.op === 'quit') this.quitRead = true;
    if (!this.started) {
      this.started = true;
      this.nodes.start();
    }
    this.queue.push(req);
    this.progressed = true;
    this.queuedBodyBytes += bodyBytesOf(req);
    this.queue.pump();
    this.updateReading();
  }

  private onInputEnd(): void {
    this.inputEnded = true;
    // beanstalkd answers a half-closed waiting client TIMED_OUT, then closes it.
    if (this.reserve.waitingAcross) {
      this.queue.dropWaiting();
      this.reserve.abort();
    } else if (this.waiting && this.queue.cutAt((req) => WAIT_OPS.has(req.op), REPLY.TIMED_OUT)) {
      // A reserve pipelined to a node waits there, holding what was sent behind it: it answers
      // TIMED_OUT and everything after it is dropped. Closing the node connections afterwards
      // releases any job the node hands over late.
      this.scheduleFlush();
    }
    this.maybeFinish();
  }

  private targetOf(req: Request): Target {
    return localErrorOf(req) ? 'local' : dispatchTarget(this, req as ClientRequest);
  }

  private mayStart(): boolean {
    if (this.closed) return false;
    if (pendingOutput(this.socket) <= this.ctx.maxOutputBytes) return true;
    this.outputBlocked = true;
    this.updateStall();
    return false;
  }

  private start(slot: Slot, target: Target): void {
    if (this.ctx.events) slot.startedAtMs = performance.now();
    const error = localErrorOf(slot.req);
    if (error) {
      if (error.count) this.ctx.counters.countLocal(error.count);
      this.complete(slot, REPLY[error.word], target, false, false);
      return;
    }
    const handled = runRequest(this, slot.req as ClientRequest);
    if (handled instanceof Forward) {
      this.queue.sent();
      handled.slot = slot;
      handled.target = target;
      handled.start(this);
      return;
    }
    let result = handled;
    // A local reply to use/watch/ignore leaves once the nodes acknowledged the change.
    const pending = this.nodes.pending;
    if (target === 'local' && pending) {
      const value = result;
      result = pending.then(() => value);
    }
    if (!(result instanceof Promise)) {
      this.complete(slot, result, target, false, false);
      return;
    }
    const counted = target !== 'local';
    if (counted) this.queue.sent();
    result.then(
      (reply) => this.complete(slot, reply, target, counted, true),
      () => this.complete(slot, REPLY.INTERNAL_ERROR, target, counted, true),
    );
  }

  /** A Forward started by start() is answered (ForwardSink). */
  forwarded(forward: Forward, reply: Reply | null): void {
    this.complete(forward.slot as Slot, forward.finish(reply), forward.target, true, true);
  }

  /** `counted`: it was counted as sent; `async`: it completes later than its start (then pump). */
  private complete(slot: Slot, reply: ReplyBytes, target: Target, counted: boolean, async: boolean): void {
    this.queue.complete(slot, reply, target, counted);
    if (this.ctx.events) reportRequest(this.ctx.events, slot);
    if (this.closed) return;
    this.scheduleFlush();
    if (async) this.queue.pump();
  }

  /**
   * Replies completed in one turn of the event loop (a node's chunk resolves many) leave
   * together: one cork/uncork, one writev.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    atEndOfTick(this.flushLater);
  }

  /** flush at the end of this tick (src/net/end-of-tick.ts). */
  private readonly flushLater = (): void => this.flush();

  private maybeFinish(): void {
    if (this.inputEnded && this.queue.length === 0 && !this.closed) this.close(true);
  }

  private updateReading(): void {
    if (this.closed) return;
    const pause =
      this.quitRead ||
      this.queue.length >= MAX_QUEUED_REQUESTS ||
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
      this.queue.pump();
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

function reportRequest(events: SessionEvents, slot: Slot): void {
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
