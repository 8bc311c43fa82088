/**
 * One client connection: framing, dispatch, ordered and durability-gated replies, backpressure.
 *
 * States as beanstalkd: WantCommand (pull requests from the parser), Wait (a reserve blocks: later
 * requests stay unread in the parser — except x-cancel during x-reserve-wait), and closing.
 * Replies go out in request order; a reply that confirms a logged change waits until the journal
 * says its record is durable. Everything a connection can hold is bounded: unprocessed input
 * (reading pauses past maxInputBytes), unsent output (processing pauses past maxOutputBytes until
 * the socket drains), and time: a started request, or output over the bound, must make progress
 * within the request timeout (src/net/stall-watch.ts; waiting in reserve is not stalling).
 */
import type { Socket } from 'node:net';
import type { Session, WaitOutcome } from '../engine/session';
import { pendingOutput } from '../net/direct-write';
import { OutBatch } from '../net/out-batch';
import type { Stallable } from '../net/stall-watch';
import { readInto } from '../net/user-buffer-read';
import type { ReplicateRequest, Request } from '../protocol/commands';
import { RequestParser } from '../protocol/parser';
import {
  dispatch,
  type HandlerContext,
  outcomeReply,
  type PutRefusal,
  type Reply,
  ReservedExtra,
} from './handlers';
import type { NodeServer } from './node-server';

interface QueuedReply {
  reply: Reply;
  seq: number;
}

export class Connection implements HandlerContext, Stallable {
  readonly parser: RequestParser;
  readonly session: Session;
  private held: Request | undefined;
  /** Set while an x-reserve-wait waits: what its RESERVED carries (and x-cancel may end it). */
  private waitExtra: ReservedExtra = ReservedExtra.None;
  private processing = false;
  /** Served in this loop turn: replies collect in `out` until its end (NodeServer.endTurn). */
  private turnCorked = false;
  private out = new OutBatch();
  /** The highest record seq a reply in `out` waits for: checked when the batch leaves (uncorkTurn). */
  private outSeq = 0;
  private scheduled = false;
  private closed = false;
  private quitting = false;
  /** finish() ran and waits for gated replies: releaseDurable ends the connection once they are out. */
  private finishing = false;
  private inputEnded = false;
  private pausedForOutput = false;
  /** In the server's StallWatch: an incomplete request or unread output holds this connection. */
  private stalled = false;
  /** Replies held back until the journal makes their records durable, in order. */
  private readonly gated: QueuedReply[] = [];
  /** `x-auth` succeeded (or no --shard-token is set). */
  authorized: boolean;
  /** A deferred reply (x-promote) is pending: later requests wait for it. */
  private deferred = false;
  /** x-replicate: the socket goes to the member after this batch. */
  private handoff: ReplicateRequest | undefined;
  /** Sequence the current reply waits for because it names a job (replication). */
  private shownSeq = 0;

  constructor(
    private readonly server: NodeServer,
    readonly socket: Socket,
  ) {
    this.parser = new RequestParser(server.maxJobBytes, true, server.dialect);
    this.authorized = server.shard.token === undefined;
    this.session = server.engine.openSession((outcome) => this.onWake(outcome));
    socket.setNoDelay(true);
    // Input is read into the server's one read buffer (src/net/user-buffer-read.ts) where Node
    // allows it: the parser copies what it keeps past the read (parser.detach).
    const reused = readInto(socket, server.readBuffer, (bytes, buffer) => this.onRead(buffer, bytes));
    if (!reused) socket.on('data', (chunk: Buffer) => this.onRead(chunk, -1));
    socket.on('end', () => this.onInputEnd());
    socket.on('drain', () => {
      if (!this.pausedForOutput) return;
      this.pausedForOutput = false;
      this.process();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  /** `bytes` ≥ 0: the first `bytes` of the reused read buffer; -1: `chunk` is this read's own. */
  private onRead(chunk: Buffer, bytes: number): void {
    if (this.handoff !== undefined || this.closed) {
      // A replication stream took the socket over (x-replicate): it reads 'data' events.
      if (bytes >= 0 && this.handoff !== undefined)
        this.socket.emit('data', Buffer.from(chunk.subarray(0, bytes)));
      return;
    }
    this.parser.push(bytes >= 0 ? chunk.subarray(0, bytes) : chunk);
    this.process();
    if (bytes >= 0) this.parser.detach();
  }

  get engine() {
    return this.server.engine;
  }

  get cmd() {
    return this.server.cmd;
  }

  get dialect() {
    return this.server.dialect;
  }

  get stalkdVersion(): string {
    return this.server.stalkdVersion;
  }

  refuseMove(reason: PutRefusal): void {
    this.server.movesFailed[reason]++;
  }

  refusePut(reason: PutRefusal): void {
    this.server.putsRefused[reason]++;
  }

  renderServerStats(): string {
    return this.server.renderStats();
  }

  jobFile(id: number): number {
    return this.server.jobFile(id);
  }

  get shard() {
    return this.server.shard;
  }

  authorize(): void {
    this.authorized = true;
  }

  jobShown(id: number): void {
    const seq = this.server.shard.putLsnOf(id);
    if (seq > this.shownSeq) this.shownSeq = seq;
  }

  waitFor(seq: number): void {
    if (seq > this.shownSeq) this.shownSeq = seq;
  }

  defer(reply: Promise<string>): void {
    this.deferred = true;
    void reply
      .catch((err: Error) => `INTERNAL_ERROR ${err.message}`)
      .then((line) => {
        this.deferred = false;
        if (this.closed) return;
        this.send(Buffer.from(`${line}\r\n`, 'latin1'), 0);
        this.schedule();
      });
  }

  handOver(req: ReplicateRequest): void {
    this.handoff = req;
  }

  beginWait(extra: ReservedExtra): void {
    this.waitExtra = extra;
  }

  quit(): void {
    this.quitting = true;
  }

  /** Runs every request that can run now. */
  process(): void {
    if (this.processing || this.closed) return;
    this.processing = true;
    const socket = this.socket;
    let served = 0;
    this.joinTurn();
    try {
      while (!this.closed && !this.quitting && !this.deferred && this.handoff === undefined) {
        if (pendingOutput(socket) + this.out.pendingBytes > this.server.maxOutputBytes) {
          this.pausedForOutput = true;
          break;
        }
        if (this.session.waiting) {
          if (this.waitExtra === ReservedExtra.None) break;
          this.held ??= this.parser.next();
          if (this.held?.op !== 'x-cancel') break;
        }
        const req = this.held ?? this.parser.next();
        this.held = undefined;
        if (!req) break;
        served++;
        const seqBefore = this.engine.lastJournalSeq;
        this.shownSeq = 0;
        const reply = dispatch(this, req);
        const changed = this.engine.lastJournalSeq !== seqBefore ? this.engine.lastJournalSeq : 0;
        if (reply) this.send(reply, Math.max(changed, this.shownSeq));
      }
    } finally {
      this.processing = false;
    }
    if (this.handoff !== undefined) this.replicate(this.handoff);
    else this.afterProcess(served > 0);
  }

  /**
   * x-replicate: the socket becomes a replication stream. Replies before it are out first (they
   * are never gated here: a member connection sends only x-auth before it).
   */
  private replicate(req: ReplicateRequest): void {
    if (this.gated.length > 0) {
      this.handoff = undefined;
      this.send(Buffer.from('BAD_FORMAT\r\n', 'latin1'), 0);
      this.close();
      return;
    }
    const socket = this.socket;
    // The replies before it leave now, not at the end of the turn: the stream follows them.
    this.server.flushLog();
    this.uncorkTurn();
    const leftover = this.parser.takeRest();
    this.closed = true;
    if (this.stalled) this.server.stalls.end(this);
    this.stalled = false;
    this.server.engine.closeSession(this.session);
    this.server.forget(this);
    for (const event of ['data', 'end', 'drain', 'error', 'close']) socket.removeAllListeners(event);
    socket.resume();
    this.server.shard.replicate(socket, leftover, req);
  }

  /**
   * Replies wait until the end of the loop turn (NodeServer.endTurn): the log is written once for
   * every connection served in the turn, then each connection's replies leave in one write. They
   * wait in an OutBatch, not in a corked socket: a corked write is buffered by the stream and
   * written again on uncork, which costs a client with one request in flight more than the write
   * itself (issue 18).
   */
  private joinTurn(): void {
    if (this.turnCorked) return;
    this.turnCorked = true;
    this.server.endTurn(this);
  }

  /**
   * The turn's records are in the OS (every caller flushes the log first): the replies held since
   * leave now if the log made what they wait for durable (-f MS, -F: written is durable). Otherwise
   * (-f 0: the fsync is still to come; a standby's confirmation) the batch waits as one gated reply.
   */
  uncorkTurn(): void {
    if (!this.turnCorked) return;
    this.turnCorked = false;
    const seq = this.outSeq;
    this.outSeq = 0;
    if (this.socket.destroyed) this.out = new OutBatch();
    else if (seq > this.server.durableSeq()) this.holdTurn(seq);
    else this.out.writeTo(this.socket);
  }

  /** The turn's replies wait for `seq` ahead of anything gated later (they were all sent before it). */
  private holdTurn(seq: number): void {
    const parts = this.out.takeParts();
    if (this.closed) return; // a closed connection never sends what is not durable
    if (this.gated.length === 0) this.server.awaitDurable(this);
    this.gated.unshift({ reply: parts, seq });
  }

  /** A blocked reserve ended (job, TIMED_OUT or DEADLINE_SOON): answer it and go on. */
  private onWake(outcome: WaitOutcome): void {
    if (this.closed) return;
    this.joinTurn(); // woken by another connection's put: leave with that turn's replies
    const seq = outcome.type === 'reserved' ? this.server.shard.putLsnOf(outcome.job.id) : 0;
    this.send(outcomeReply(outcome, this.waitExtra), seq);
    this.waitExtra = ReservedExtra.None;
    if (!this.processing) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      this.process();
    });
  }

  private afterProcess(progressed: boolean): void {
    if (this.closed) return;
    if (this.quitting) {
      this.finish();
      return;
    }
    // Input still unread must stay bounded: stop reading while it is over the limit.
    const backlog = this.parser.bufferedBytes > this.server.maxInputBytes;
    if (backlog || this.pausedForOutput) {
      if (!this.socket.isPaused()) {
        this.socket.pause();
        this.server.reportBackpressure(pendingOutput(this.socket), this.parser.bufferedBytes);
      }
    } else if (!this.inputEnded) this.socket.resume();
    // Input ended and nothing more can run: incomplete trailing input can never complete.
    if (this.inputEnded && !this.session.waiting && !this.pausedForOutput) this.finish();
    else this.updateStall(progressed);
    this.server.armTimer();
  }

  /** Waiting in reserve is not stalling; a partial request or unread output over the bound is. */
  private updateStall(progressed: boolean): void {
    const stalled = this.pausedForOutput || (!this.session.waiting && this.parser.midRequest);
    if (!stalled && !this.stalled) return;
    this.stalled = stalled;
    this.server.stalls.update(this, stalled, progressed);
  }

  abortStalled(): void {
    this.stalled = false;
    this.close(true);
  }

  private send(reply: Reply, seq: number): void {
    if (this.gated.length === 0 && this.turnCorked) {
      // It leaves with the turn's batch, after the log's flush, if that made `seq` durable.
      this.writeOut(reply);
      if (seq > this.outSeq) this.outSeq = seq;
      return;
    }
    if (this.gated.length === 0 && seq <= this.server.durableSeq()) {
      this.write(reply);
      return;
    }
    if (this.gated.length === 0) this.server.awaitDurable(this);
    this.gated.push({ reply, seq });
  }

  /** The journal's durable point advanced: release what it covers. Returns true while more waits. */
  releaseDurable(durableSeq: number): boolean {
    if (this.closed) return false;
    // Records the replies may name go to the OS once, before any reply is taken off the queue: a
    // flush per reply (write) may announce durability again and release this queue re-entrantly,
    // and the later replies would leave ahead of the one being written.
    const inTurn = this.turnCorked; // then the replies join the turn's write
    if (!inTurn) {
      this.server.flushLog();
      this.socket.cork();
    }
    while (this.gated.length > 0 && (this.gated[0] as QueuedReply).seq <= durableSeq) {
      this.writeOut((this.gated.shift() as QueuedReply).reply);
    }
    if (!inTurn) this.socket.uncork();
    if (this.gated.length === 0 && this.finishing) this.finish();
    return this.gated.length > 0;
  }

  private write(reply: Reply): void {
    // Outside the turn's cork this write goes out at once: records appended by other connections
    // (a put whose job this reply may name) must be in the OS first.
    if (!this.turnCorked) this.server.flushLog();
    this.writeOut(reply);
  }

  private writeOut(reply: Reply): void {
    if (this.turnCorked) {
      if (Buffer.isBuffer(reply)) this.out.push(reply);
      else for (const part of reply) this.out.push(part);
    } else if (Buffer.isBuffer(reply)) this.socket.write(reply);
    else for (const part of reply) this.socket.write(part);
  }

  /** The client half-closed: a waiting reserve answers TIMED_OUT (as beanstalkd), the rest is served. */
  private onInputEnd(): void {
    this.inputEnded = true;
    if (this.session.waiting) {
      this.engine.cancelWait(this.session);
    }
    this.process();
  }

  /** Ends the connection once gated replies are out. */
  private finish(): void {
    if (this.closed) return;
    this.finishing = true;
    this.server.engine.closeSession(this.session);
    if (this.gated.length > 0) return; // releaseDurable calls finish again
    this.server.flushLog(); // the turn's replies leave now: they must not outrun their records
    this.uncorkTurn();
    if (this.gated.length > 0) return; // the turn's replies wait for their records (uncorkTurn)
    this.socket.end();
    this.close();
  }

  /** `abort`: drop unsent replies (the client stalled); otherwise they go out before the FIN. */
  close(abort = false): void {
    if (this.closed) return;
    this.closed = true;
    if (this.stalled) this.server.stalls.end(this);
    this.stalled = false;
    this.server.engine.closeSession(this.session);
    this.server.forget(this);
    // Unsent replies are dropped on abort; otherwise the turn's replies leave now, after their records.
    if (abort) this.out = new OutBatch();
    else if (!this.out.empty) {
      this.server.flushLog();
      this.uncorkTurn();
    }
    if (abort || this.socket.destroyed || pendingOutput(this.socket) === 0) {
      this.socket.destroy();
    } else {
      this.server.flushLog();
      this.socket.end();
      this.server.linger(this.socket);
    }
  }
}
