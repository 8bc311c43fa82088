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
import type { Stallable } from '../net/stall-watch';
import type { Request } from '../protocol/commands';
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
  private scheduled = false;
  private closed = false;
  private quitting = false;
  private inputEnded = false;
  private pausedForOutput = false;
  /** In the server's StallWatch: an incomplete request or unread output holds this connection. */
  private stalled = false;
  /** Replies held back until the journal makes their records durable, in order. */
  private readonly gated: QueuedReply[] = [];

  constructor(
    private readonly server: NodeServer,
    readonly socket: Socket,
  ) {
    this.parser = new RequestParser(server.maxJobBytes, true, server.dialect);
    this.session = server.engine.openSession((outcome) => this.onWake(outcome));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      this.process();
    });
    socket.on('end', () => this.onInputEnd());
    socket.on('drain', () => {
      if (!this.pausedForOutput) return;
      this.pausedForOutput = false;
      this.process();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
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

  refusePut(reason: PutRefusal): void {
    this.server.putsRefused[reason]++;
  }

  renderServerStats(): string {
    return this.server.renderStats();
  }

  jobFile(id: number): number {
    return this.server.jobFile(id);
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
    socket.cork();
    try {
      while (!this.closed && !this.quitting) {
        if (socket.writableLength > this.server.maxOutputBytes) {
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
        const reply = dispatch(this, req);
        if (reply)
          this.send(reply, this.engine.lastJournalSeq !== seqBefore ? this.engine.lastJournalSeq : 0);
      }
    } finally {
      // The batch's records go to the OS before its replies leave (one write for the whole read).
      this.server.flushLog();
      socket.uncork();
      this.processing = false;
    }
    this.afterProcess(served > 0);
  }

  /** A blocked reserve ended (job, TIMED_OUT or DEADLINE_SOON): answer it and go on. */
  private onWake(outcome: WaitOutcome): void {
    if (this.closed) return;
    this.send(outcomeReply(outcome, this.waitExtra), 0);
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
        this.server.reportBackpressure(this.socket.writableLength, this.parser.bufferedBytes);
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
    this.socket.cork();
    while (this.gated.length > 0 && (this.gated[0] as QueuedReply).seq <= durableSeq) {
      this.write((this.gated.shift() as QueuedReply).reply);
    }
    this.socket.uncork();
    if (this.gated.length === 0 && this.quitting) this.finish();
    return this.gated.length > 0;
  }

  private write(reply: Reply): void {
    // Outside a corked batch this write goes out at once: records appended by other connections
    // (a put whose job this reply may name) must be in the OS first.
    if (!this.processing) this.server.flushLog();
    if (Buffer.isBuffer(reply)) this.socket.write(reply);
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
    this.server.engine.closeSession(this.session);
    if (this.gated.length > 0) return; // releaseDurable calls finish again
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
    if (abort || this.socket.destroyed || this.socket.writableLength === 0) {
      this.socket.destroy();
    } else {
      this.socket.end();
      this.server.linger(this.socket);
    }
  }
}
