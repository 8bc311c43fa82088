/**
 * Types shared across the proxy's parts (sessions, handlers, reserve, fan-out), in one module so
 * that none of them has to import another for its shapes.
 */
import type { StallWatch } from '../net/stall-watch';
import type { Request } from '../protocol/commands';
import type { Dialect } from '../protocol/dialect';
import type { ReplyBytes } from '../protocol/replies';
import type { Reply } from '../protocol/reply-parser';
import type { CountedCommand } from '../protocol/stats';
import type { Forward } from './node/forward';
import type { NodePool } from './node/node-pool';
import type { Routing } from './routing';
import type { ProxyCounters } from './stats-merge';

/** What sessions report (ProxyMetricsRecorder fits); all optional work is skipped when absent. */
export interface SessionEvents {
  command(cmd: string, result: string, seconds: number): void;
  reserveWait(cmd: string, result: string, seconds: number): void;
  fanout(cmd: string, seconds: number): void;
}

/** Everything a client session works with, shared by all sessions of one proxy. */
export interface ProxyContext {
  events: SessionEvents | null;
  /** Which nodes own and hold each tube (swappable as a whole). */
  routing: Routing;
  pool: NodePool;
  counters: ProxyCounters;
  maxJobBytes: number;
  /**
   * The beanstalkd release the proxy speaks to its clients (`--compat`), whatever its nodes run:
   * parsing, `version`, and stats strings quoted or not (nodes' stats-tube/stats-job restyled).
   */
  dialect: Dialect;
  /** Stock-node reserve: length of one blocking wait slice, seconds. */
  reserveSliceSec: number;
  /**
   * Open connections to the nodes that own the client's used and watched tubes as soon as its
   * state names them (first command, use, watch), so stats-tube counts it as one beanstalkd
   * would; off: only when a command needs the node.
   */
  eagerState: boolean;
  /**
   * Puts go over one connection per node shared by every client (node/put-lane.ts): many
   * clients' puts in one write; off: each over the client's own connection.
   */
  sharePuts: boolean;
  /** Requests outstanding on one client's node connection before dispatch waits. */
  maxInflight: number;
  /** Unsent reply bytes to one client before dispatch waits. */
  maxOutputBytes: number;
  /** Queued put-body bytes from one client before reading pauses. */
  maxInputBytes: number;
  stalls: StallWatch;
  /** Plain TCP clients are read into this one buffer (session.ts; src/net/user-buffer-read.ts). */
  readBuffer: Buffer;
}

/**
 * Where a request goes in a session's ordering rule: a node index (pipelined to that node),
 * 'local' (answered by the proxy from session state) or 'barrier' (nothing else runs meanwhile).
 */
export type Target = number | 'local' | 'barrier';

/** A handler's answer: the reply now, later, or a request for the client's node connection. */
export type HandlerResult = ReplyBytes | Promise<ReplyBytes> | Forward;

/** Requests a client can send through the proxy (its parser refuses the x-* node extensions). */
export type ClientRequest = Exclude<Request, { op: 'error' | `x-${string}` }>;

/** A reply the proxy gives itself without running anything: parse errors, a put body without CRLF. */
export interface LocalError {
  word: 'BAD_FORMAT' | 'UNKNOWN_COMMAND' | 'JOB_TOO_BIG' | 'EXPECTED_CRLF';
  /** The stats key beanstalkd bumps for it, if any. */
  count: CountedCommand | null;
}

/**
 * A command for a node and who gets its reply: what a node connection queues (node/backend.ts).
 * A Forward is one itself, so the per-command path allocates no request object or callback.
 */
export interface NodeRequest {
  /** The command line, without CRLF. */
  readonly head: string;
  /** Put body with its CRLF. */
  readonly body: Buffer | undefined;
  /** Reply deadline once the oldest outstanding; null: none (blocking reserve). */
  readonly timeoutMs: number | null;
  /** The node's reply, always later than the submit (null: the connection failed). */
  resolve(reply: Reply | null): void;
}

/** One connection to a node, as sessions use it (node/backend.ts Backend fits; tests fake it). */
export interface NodeChannel {
  readonly state: 'connecting' | 'open' | 'closed';
  /** Resolves true once connected, false if the connection failed first. */
  readonly connected: Promise<boolean>;
  /** The default reply deadline. */
  readonly replyTimeoutMs: number;
  /** Sends `head` (a command line without CRLF) and `body` (with its CRLF); null: the connection failed. */
  request(head: string, body?: Buffer, timeoutMs?: number | null): Promise<Reply | null>;
  /** As request(), with a callback always called later (the per-command hot path). */
  send(
    head: string,
    body: Buffer | undefined,
    timeoutMs: number | null,
    done: (reply: Reply | null) => void,
  ): void;
  /** As send(), the request being its own callback. */
  submit(req: NodeRequest): void;
}

/** One node as sessions see it (node/node-pool.ts NodeLink fits; tests fake it). */
export interface NodeHandle {
  readonly node: { readonly index: number };
  readonly up: boolean;
  /** `stalkd` (protocol extensions), `stock` or `unknown`. */
  readonly kind: string;
  /** A connection for one client session; null while the node is down. */
  openBackend(): NodeChannel | null;
  releaseBackend(channel: NodeChannel): void;
  /** The proxy sends `command` on its own behalf (merged stats subtract it). */
  countOverhead(command: CountedCommand): void;
}

/** The nodes by index (node/node-pool.ts NodePool fits). */
export interface NodeDirectory {
  get(index: number): NodeHandle | undefined;
}
