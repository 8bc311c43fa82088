/**
 * A command the session sends to one node over the client's own connection, with what to make of
 * the reply: the per-command hot path (put, id commands, single-node reserve). A Forward is itself
 * the request the node connection queues (NodeRequest), and the session that started it gets it
 * back with the reply (ForwardSink): no promise, callback or request object per command.
 */
import type { ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import type { NodeConn } from '../session/node-sync';
import type { Slot } from '../session/reply-queue';
import type { NodeRequest, Target } from '../types';

/** Who gets a started Forward back with its node's reply (a client session). */
export interface ForwardSink {
  forwarded(forward: Forward, reply: Reply | null): void;
}

/** A ForwardSink calling one function (paths off the per-command hot path). */
class CallbackSink implements ForwardSink {
  constructor(private readonly done: (reply: Reply | null) => void) {}

  forwarded(_forward: Forward, reply: Reply | null): void {
    this.done(reply);
  }
}

export abstract class Forward implements NodeRequest {
  private sink: ForwardSink | null = null;
  /** The session's place for this request, kept here for its sink. */
  slot: Slot | null = null;
  target: Target = 'local';

  constructor(
    /** The client's connection to the node (its index rewrites ids in the reply). */
    readonly conn: NodeConn,
    /** The command line for the node, without CRLF (a lane put may name its tube in it). */
    public head: string,
    /** Put body with its CRLF. */
    readonly body: Buffer | undefined,
    /** Reply deadline once the request is the oldest outstanding; null: none (blocking reserve). */
    readonly timeoutMs: number | null,
  ) {}

  /** Sends the command; `sink` gets this Forward and the node's reply later (null: it failed). */
  start(sink: ForwardSink): void {
    this.sink = sink;
    this.transmit();
  }

  /** As start(), with a callback. */
  send(done: (reply: Reply | null) => void): void {
    this.start(new CallbackSink(done));
  }

  /** The node's reply (NodeRequest): to the sink. */
  resolve(reply: Reply | null): void {
    this.sink?.forwarded(this, reply);
  }

  /** Puts the command on its way to the node; the reply comes to resolve(). */
  protected transmit(): void {
    this.conn.backend.submit(this);
  }

  /** The client's reply to the node's `reply` (null: the node connection failed). */
  abstract finish(reply: Reply | null): ReplyBytes;
}
