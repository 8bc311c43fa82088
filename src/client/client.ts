/**
 * Promise-based, pipelined beanstalkd client: one socket, any number of commands in flight,
 * replies matched to requests strictly first-in first-out (`inflight`).
 *
 * Result shapes — protocol outcomes the caller must branch on are resolved values:
 *   put(body, {pri, delay, ttr})   → id: number
 *   use(tube)                      → tube name echoed by USING
 *   reserve()                      → Job | 'DEADLINE_SOON'
 *   reserveWithTimeout(secs)       → Job | 'DEADLINE_SOON' | 'TIMED_OUT'
 *   reserveJob(id)                 → Job | 'NOT_FOUND'
 *   delete(id)                     → 'DELETED' | 'NOT_FOUND'
 *   release(id, pri, delay)        → 'RELEASED' | 'BURIED' | 'NOT_FOUND'
 *   bury(id, pri)                  → 'BURIED' | 'NOT_FOUND'
 *   touch(id)                      → 'TOUCHED' | 'NOT_FOUND'
 *   watch(tube)                    → number of watched tubes
 *   ignore(tube)                   → number of watched tubes | 'NOT_IGNORED'
 *   peek(id), peekReady(), peekDelayed(), peekBuried() → Job | null (null = NOT_FOUND)
 *   kick(bound)                    → number of jobs kicked
 *   kickJob(id)                    → 'KICKED' | 'NOT_FOUND'
 *   stats()                        → ServerStats
 *   statsTube(name), statsJob(id)  → TubeStats | JobStats | null (null = NOT_FOUND)
 *   listTubes(), listTubesWatched() → string[] (byte-exact names); listTubeUsed() → string
 *   pauseTube(name, delaySecs)     → 'PAUSED' | 'NOT_FOUND'
 *   raw(line, body?)               → Reply (any reply, never a ProtocolError)
 *   quit(), close()                → void once the socket is closed
 * Lookups (peek*, stats-job, stats-tube) give null for NOT_FOUND; actions give their reply word.
 * `Job` is `{ id: number, body: Buffer }`; ids are numbers (beanstalkd ids stay below 2^53).
 *
 * Rejections: a reply outside the command's grammar — BAD_FORMAT, UNKNOWN_COMMAND, OUT_OF_MEMORY,
 * INTERNAL_ERROR, DRAINING, JOB_TOO_BIG, EXPECTED_CRLF, `BURIED <id>` for put (stored but buried
 * for lack of memory; `err.id` holds the id) or anything unexpected — rejects with ProtocolError;
 * the connection stays usable. A connection failure rejects every command in flight, and every
 * later one, with ConnectionError (`code` ECONNREFUSED, ECONNRESET, ETIMEDOUT, CLOSED, BAD_REPLY…).
 * Arguments out of range (pri/delay/ttr/secs/bound not u32, ids not safe integers, CR/LF in a
 * tube name) are programmer errors and throw synchronously (RangeError/TypeError).
 *
 * Ordering: a blocking `reserve` occupies its place in the FIFO; commands sent after it on the
 * same client are answered only after it. Use a separate client for control traffic.
 * Writes issued in one tick go out as one socket write. A put body may be sent without copying:
 * don't modify it until the put settles.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { endpointText, socketTarget } from '../net/endpoint';
import { Fifo } from '../net/fifo';
import type { Request } from '../protocol/commands';
import { type Reply, ReplyFormatError, ReplyParser } from '../protocol/reply-parser';
import { putLine, requestLine } from '../protocol/request-line';
import type { JobStats, ServerStats, TubeStats } from '../protocol/stats';
import { checkId, checkTube, checkU32 } from './args';
import {
  type Decoder,
  decodeBury,
  decodeDelete,
  decodeIgnore,
  decodeInserted,
  decodeJobStats,
  decodeKicked,
  decodeKickJob,
  decodeList,
  decodePauseTube,
  decodePeek,
  decodeRaw,
  decodeRelease,
  decodeReserve,
  decodeReserveJob,
  decodeReserveWithTimeout,
  decodeServerStats,
  decodeTouch,
  decodeTubeStats,
  decodeUsing,
  decodeWatching,
  type Job,
} from './decoders';
import { ConnectionError } from './errors';

export interface ConnectOptions {
  /** A TCP host, or `unix:PATH` for a Unix domain socket (the port is then not used). */
  host: string;
  port: number;
  /** Give up connecting (and the TLS handshake) after this many ms: ConnectionError ETIMEDOUT. */
  timeoutMs?: number;
  /** true for TLS with default options, or options for tls.connect (host/port are ours). */
  tls?: boolean | tls.ConnectionOptions;
}

export interface PutOptions {
  /** 0 (most urgent) … 4294967295; default 1024. Below 1024 counts as "urgent" in stats. */
  pri?: number;
  /** Seconds before the job becomes ready; default 0. */
  delaySecs?: number;
  /** Seconds a worker may hold the job (the server raises 0 to 1); default 60. */
  ttrSecs?: number;
}

interface InFlight {
  /** Verb for error messages (`put`, `stats-tube`, …). */
  command: string;
  decode: Decoder<unknown>;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const CRLF = Buffer.from('\r\n');
/** Bodies up to this size are copied next to their header (one chunk); bigger ones are sent as is. */
const INLINE_BODY_BYTES = 16 * 1024;
/** A tick's writes up to this total are concatenated into one buffer; more are corked instead. */
const CONCAT_WRITE_BYTES = 256 * 1024;

function toConnectionError(err: unknown, fallback: string): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'ECONNRESET';
  const message = err instanceof Error ? err.message : fallback;
  return new ConnectionError(code, message, err);
}

export class Client {
  private readonly socket: net.Socket;
  private readonly parser: ReplyParser;
  private readonly inflight = new Fifo<InFlight>();
  /** Chunks written this tick, flushed together on the next tick. */
  private outgoing: Buffer[] = [];
  private outgoingBytes = 0;
  private flushScheduled = false;
  /** Set once the connection is finished (or quitting): later commands reject with it. */
  private failure: ConnectionError | undefined;
  private finished = false;
  private resolveClosed!: (err: ConnectionError) => void;
  /** Resolves once the socket is gone, with the error that ended it (code CLOSED if orderly). */
  readonly closed: Promise<ConnectionError>;

  /** Opens a connection; rejects with ConnectionError (code ECONNREFUSED, ETIMEDOUT, …). */
  static connect(options: ConnectOptions): Promise<Client> {
    return new Promise<Client>((resolve, reject) => {
      const { host, port, timeoutMs } = options;
      const socket: net.Socket = options.tls
        ? tls.connect({ ...(options.tls === true ? {} : options.tls), ...socketTarget(host, port) })
        : net.connect(socketTarget(host, port));
      let timer: NodeJS.Timeout | undefined;
      const settle = (err: ConnectionError | undefined): void => {
        if (timer !== undefined) clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.off(readyEvent, onReady);
        if (err === undefined) {
          resolve(new Client(socket));
        } else {
          socket.destroy();
          reject(err);
        }
      };
      const where = endpointText(host, port);
      const onError = (err: Error): void => settle(toConnectionError(err, `connect ${where} failed`));
      const onClose = (): void =>
        settle(new ConnectionError('CLOSED', `connect ${where}: closed before ready`));
      const onReady = (): void => settle(undefined);
      const readyEvent = options.tls ? 'secureConnect' : 'connect';
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once(readyEvent, onReady);
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => settle(new ConnectionError('ETIMEDOUT', `connect ${where}: timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
    });
  }

  /** Wraps an already connected socket (e.g. one a proxy opened itself). */
  constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise<ConnectionError>((resolve) => {
      this.resolveClosed = resolve;
    });
    this.parser = new ReplyParser((reply) => this.onReply(reply));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(toConnectionError(err, 'socket error')));
    socket.on('close', () => this.fail(new ConnectionError('CLOSED', 'connection closed')));
  }

  /** Commands sent (or queued to send) whose replies have not arrived yet. */
  get inflightCount(): number {
    return this.inflight.length;
  }

  put(body: Buffer | string, options: PutOptions = {}): Promise<number> {
    const pri = checkU32('pri', options.pri ?? 1024);
    const delaySecs = checkU32('delay', options.delaySecs ?? 0);
    const ttrSecs = checkU32('ttr', options.ttrSecs ?? 60);
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const header = `${putLine(pri, delaySecs, ttrSecs, data.length)}\r\n`;
    if (data.length > INLINE_BODY_BYTES) {
      return this.send('put', [Buffer.from(header, 'latin1'), data, CRLF], decodeInserted);
    }
    const frame = Buffer.allocUnsafe(header.length + data.length + 2);
    frame.write(header, 0, 'latin1');
    data.copy(frame, header.length);
    frame[frame.length - 2] = 13;
    frame[frame.length - 1] = 10;
    return this.send('put', frame, decodeInserted);
  }

  use(tube: string): Promise<string> {
    return this.request({ op: 'use', tube: checkTube(tube) }, decodeUsing);
  }

  reserve(): Promise<Job | 'DEADLINE_SOON'> {
    return this.request({ op: 'reserve' }, decodeReserve);
  }

  reserveWithTimeout(secs: number): Promise<Job | 'DEADLINE_SOON' | 'TIMED_OUT'> {
    const timeoutMs = checkU32('timeout', secs) * 1000;
    return this.request({ op: 'reserve-with-timeout', timeoutMs }, decodeReserveWithTimeout);
  }

  reserveJob(id: number): Promise<Job | 'NOT_FOUND'> {
    return this.request({ op: 'reserve-job', id: checkId(id) }, decodeReserveJob);
  }

  delete(id: number): Promise<'DELETED' | 'NOT_FOUND'> {
    return this.request({ op: 'delete', id: checkId(id) }, decodeDelete);
  }

  release(id: number, pri: number, delaySecs: number): Promise<'RELEASED' | 'BURIED' | 'NOT_FOUND'> {
    const req = {
      op: 'release',
      id: checkId(id),
      pri: checkU32('pri', pri),
      delayMs: checkU32('delay', delaySecs) * 1000,
    } as const;
    return this.request(req, decodeRelease);
  }

  bury(id: number, pri: number): Promise<'BURIED' | 'NOT_FOUND'> {
    return this.request({ op: 'bury', id: checkId(id), pri: checkU32('pri', pri) }, decodeBury);
  }

  touch(id: number): Promise<'TOUCHED' | 'NOT_FOUND'> {
    return this.request({ op: 'touch', id: checkId(id) }, decodeTouch);
  }

  watch(tube: string): Promise<number> {
    return this.request({ op: 'watch', tube: checkTube(tube) }, decodeWatching);
  }

  ignore(tube: string): Promise<number | 'NOT_IGNORED'> {
    return this.request({ op: 'ignore', tube: checkTube(tube) }, decodeIgnore);
  }

  peek(id: number): Promise<Job | null> {
    return this.request({ op: 'peek', id: checkId(id) }, decodePeek);
  }

  peekReady(): Promise<Job | null> {
    return this.request({ op: 'peek-ready' }, decodePeek);
  }

  peekDelayed(): Promise<Job | null> {
    return this.request({ op: 'peek-delayed' }, decodePeek);
  }

  peekBuried(): Promise<Job | null> {
    return this.request({ op: 'peek-buried' }, decodePeek);
  }

  kick(bound: number): Promise<number> {
    return this.request({ op: 'kick', bound: checkU32('bound', bound) }, decodeKicked);
  }

  kickJob(id: number): Promise<'KICKED' | 'NOT_FOUND'> {
    return this.request({ op: 'kick-job', id: checkId(id) }, decodeKickJob);
  }

  stats(): Promise<ServerStats> {
    return this.request({ op: 'stats' }, decodeServerStats);
  }

  statsTube(name: string): Promise<TubeStats | null> {
    return this.request({ op: 'stats-tube', tube: checkTube(name) }, decodeTubeStats);
  }

  statsJob(id: number): Promise<JobStats | null> {
    return this.request({ op: 'stats-job', id: checkId(id) }, decodeJobStats);
  }

  listTubes(): Promise<string[]> {
    return this.request({ op: 'list-tubes' }, decodeList);
  }

  listTubesWatched(): Promise<string[]> {
    return this.request({ op: 'list-tubes-watched' }, decodeList);
  }

  listTubeUsed(): Promise<string> {
    return this.request({ op: 'list-tube-used' }, decodeUsing);
  }

  pauseTube(name: string, delaySecs: number): Promise<'PAUSED' | 'NOT_FOUND'> {
    const req = {
      op: 'pause-tube',
      tube: checkTube(name),
      delayMs: checkU32('delay', delaySecs) * 1000,
    } as const;
    return this.request(req, decodePauseTube);
  }

  /**
   * Sends `line` + CRLF (and `body` + CRLF when given) and resolves with whatever single reply
   * comes back, error words included. The bytes must draw exactly one reply, or the FIFO loses
   * sync (so a line may not contain CRLF; use a plain socket for framing experiments).
   */
  raw(line: string | Buffer, body?: Buffer | string): Promise<Reply> {
    const head = typeof line === 'string' ? Buffer.from(line) : line;
    if (head.includes(CRLF)) throw new TypeError('raw: line must not contain CRLF');
    const chunks = [head, CRLF];
    if (body !== undefined) chunks.push(typeof body === 'string' ? Buffer.from(body) : body, CRLF);
    return this.send('raw', chunks, decodeRaw);
  }

  /**
   * Sends `quit` after everything already queued; resolves once the server has closed the
   * connection. Replies to earlier commands still arrive; later commands reject with CLOSED.
   */
  quit(): Promise<void> {
    if (this.failure === undefined) {
      this.enqueue(Buffer.from(`${requestLine({ op: 'quit' })}\r\n`, 'latin1'));
      this.failure = new ConnectionError('CLOSED', 'client quit');
    }
    return this.closed.then(() => undefined);
  }

  /** Closes the socket at once; commands in flight reject with CLOSED. */
  close(): Promise<void> {
    this.fail(new ConnectionError('CLOSED', 'connection closed by client'));
    return this.closed.then(() => undefined);
  }

  /** Sends a request without a body; its verb names it in errors. */
  private request<T>(req: Request, decode: Decoder<T>): Promise<T> {
    return this.send(req.op, Buffer.from(`${requestLine(req)}\r\n`, 'latin1'), decode);
  }

  private send<T>(command: string, data: Buffer | Buffer[], decode: Decoder<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.inflight.push({ command, decode, resolve: resolve as (value: unknown) => void, reject });
      if (Array.isArray(data)) for (const chunk of data) this.enqueue(chunk);
      else this.enqueue(data);
    });
  }

  private enqueue(chunk: Buffer): void {
    this.outgoing.push(chunk);
    this.outgoingBytes += chunk.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Writes this tick's chunks as one buffer, or corked (one writev) when they are large. */
  private flush(): void {
    this.flushScheduled = false;
    const chunks = this.outgoing;
    const bytes = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    if (chunks.length === 0 || this.finished) return;
    if (chunks.length === 1 || bytes <= CONCAT_WRITE_BYTES) {
      this.socket.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes));
      return;
    }
    this.socket.cork();
    for (const chunk of chunks) this.socket.write(chunk);
    this.socket.uncork();
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof ReplyFormatError)) throw err;
      this.fail(new ConnectionError('BAD_REPLY', `bad reply from server: ${err.message}`, err));
    }
  }

  private onReply(reply: Reply): void {
    const request = this.inflight.shift();
    if (request === undefined) {
      if (this.finished) return;
      throw new ReplyFormatError(`reply with no request in flight: "${reply.line}"`);
    }
    let value: unknown;
    try {
      value = request.decode(reply, request.command);
    } catch (err) {
      request.reject(err as Error);
      return;
    }
    request.resolve(value);
  }

  /**
   * Ends the connection once: commands in flight reject with `err` (the first cause seen), later
   * commands with the quit marker or `err`.
   */
  private fail(err: ConnectionError): void {
    if (this.finished) return;
    this.finished = true;
    this.failure ??= err;
    this.outgoing = [];
    this.outgoingBytes = 0;
    for (const request of this.inflight.drain()) request.reject(err);
    this.socket.destroy();
    this.resolveClosed(err);
  }
}

/** Opens a connection; same as Client.connect. */
export function connect(options: ConnectOptions): Promise<Client> {
  return Client.connect(options);
}
