/**
 * A command the session sends to one node over the client's own connection, with what to make of
 * the reply: the per-command hot path (put, id commands, single-node reserve), so no promise per
 * command — the session calls Backend.send and hands the reply to `finish`.
 */
import type { ReplyBytes } from '../../protocol/replies';
import type { Reply } from '../../protocol/reply-parser';
import type { NodeConn } from '../session/node-sync';

export abstract class Forward {
  constructor(
    /** The client's connection to the node (its index rewrites ids in the reply). */
    readonly conn: NodeConn,
    /** The command line for the node, without CRLF. */
    readonly head: string,
    /** Put body with its CRLF. */
    readonly body: Buffer | undefined,
    /** Reply deadline once the request is the oldest outstanding; null: none (blocking reserve). */
    readonly timeoutMs: number | null,
  ) {}

  /** Sends the command; `done` gets the node's reply later (null: the connection failed). */
  send(done: (reply: Reply | null) => void): void {
    this.conn.backend.send(this.head, this.body, this.timeoutMs, done);
  }

  /** The client's reply to the node's `reply` (null: the node connection failed). */
  abstract finish(reply: Reply | null): ReplyBytes;
}
