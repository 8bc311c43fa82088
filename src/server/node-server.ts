/**
 * `stalkd node`: the TCP listener around one engine. Thin: it owns sockets, the single engine
 * timer (armed at the engine's next deadline), the durability gate and process-level statistics.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import os from 'node:os';
import { type Clock, systemClock } from '../engine/clock';
import { Engine } from '../engine/engine';
import type { Journal } from '../engine/journal';
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_INPUT_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MIN_OUTPUT_BYTES,
} from '../net/limits';
import { Listener } from '../net/listen';
import { StallWatch } from '../net/stall-watch';
import { DEFAULT_DIALECT, type Dialect } from '../protocol/dialect';
import { DEFAULT_MAX_JOB_BYTES, MAX_JOB_BYTES_LIMIT } from '../protocol/numbers';
import { renderStats } from '../protocol/replies';
import { type CommandCounts, newCommandCounts } from '../protocol/stats';
import { STALKD_VERSION } from '../version';
import { Connection } from './connection';
import type { PutRefusal } from './handlers';
import { type ShardControl, STANDALONE } from './shard';
import { serverStats } from './stats-view';

/** One read takes at most this much input (libuv's own suggestion for a read). */
const READ_BUFFER_BYTES = 64 * 1024;

/** On shutdown, replies already queued get this long to reach their clients before sockets are cut. */
export const SHUTDOWN_GRACE_MS = 2000;

/** On close, how long replies waiting for their records may wait for the log to make them durable. */
const CLOSE_DURABLE_WAIT_MS = 5000;

/** What the server needs from a write-ahead log beyond the engine's Journal. */
export interface DurableLog extends Journal {
  /** Hands every appended record to the OS: called before any reply leaves (see flushLog). */
  flush(): void;
  durableSeq(): number;
  onDurable(listener: () => void): unknown;
  stats(): {
    oldestIndex: number;
    currentIndex: number;
    recordsMigrated: number;
    recordsWritten: number;
    /** -s as given (`binlog-max-size`). */
    maxSizeBytes: number;
  };
  fileOf?(jobId: number): number;
  close(): Promise<void>;
}

export interface NodeServerOptions {
  /** A TCP address, or `unix:PATH` for a Unix domain socket (src/net/listen.ts). */
  host?: string;
  port?: number;
  /** Listen on this inherited listening socket instead (systemd socket activation; host and port name its address). */
  fd?: number;
  /** A listener bound beforehand (createNodeListener: bind, then -u, then the binlog). */
  listener?: Listener;
  /** Start-up warnings (a stale socket file replaced). */
  warn?: (line: string) => void;
  /** Injected clock; with one, timers are manual (call tick()) unless manualTimers is false. */
  clock?: Clock;
  manualTimers?: boolean;
  maxJobBytes?: number;
  /** Connections beyond this many are closed at once (default 10 000). */
  maxConnections?: number;
  /** Puts past this many bytes of job records and bodies answer OUT_OF_MEMORY (0 = no limit). */
  maxJobsBytes?: number;
  /** A connection was dropped at maxConnections (the CLI logs it, rate-limited). */
  onConnectionRefused?: () => void;
  /** Unsent reply bytes per connection before it stops processing requests (default 4 MiB). */
  maxOutputBytes?: number;
  /** Unprocessed input bytes per connection before it stops reading (default 1 MiB). */
  maxInputBytes?: number;
  /**
   * A started request must be complete, and replies over maxOutputBytes drained, within this many
   * ms, or the connection is closed (src/net/stall-watch.ts); 0 = never (default 30 s).
   */
  requestTimeoutMs?: number;
  idStride?: number;
  idOffset?: number;
  log?: DurableLog;
  /** Prepares the engine before the listener opens (binlog replay). */
  beforeListen?: (engine: Engine) => void;
  /** The beanstalkd release reproduced (`--compat`): stats strings, reserve-with-timeout, `version`. */
  dialect?: Dialect;
  /** Replication (--shard-peers): the member; default STANDALONE. */
  shard?: ShardControl;
  /** Called when a connection stops reading because its input or output bound was reached. */
  onBackpressure?: (info: { unsentBytes: number; unreadBytes: number }) => void;
}

function noRefusals(): Record<PutRefusal, number> {
  return { draining: 0, binlog: 0, memory: 0, job_too_big: 0, expected_crlf: 0 };
}

export class NodeServer {
  readonly engine: Engine;
  /** The `cmd-*` counters of `stats`, bumped by the handlers as beanstalkd counts. */
  readonly cmd: CommandCounts = newCommandCounts();
  readonly maxJobBytes: number;
  readonly maxOutputBytes: number;
  readonly maxInputBytes: number;
  readonly stalkdVersion = STALKD_VERSION;
  readonly connections = new Set<Connection>();
  /** Connections stalled on their client (incomplete request, unread replies). */
  readonly stalls: StallWatch;
  /** Closed connections whose unsent replies are still going out. */
  private readonly lingering = new Set<net.Socket>();
  totalConnections = 0;
  /** Connections the listener dropped at --max-connections (stalkd_connections_refused_total). */
  connectionsRefused = 0;
  /** Puts answered with something other than INSERTED, by reason (stalkd_puts_refused_total). */
  readonly putsRefused = noRefusals();
  /** Steps of job moves refused, by reason (stalkd_moves_failed_total; docs/migration.md). */
  readonly movesFailed = noRefusals();
  private readonly listener: Listener;
  private readonly manualTimers: boolean;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private readonly startedAtMs = Date.now();
  private readonly instanceId = randomBytes(8).toString('hex');
  private readonly awaitingDurable = new Set<Connection>();
  /** The beanstalkd release this node reproduces; also the `version` its clients see. */
  readonly dialect: Dialect;
  /** Replication's view of this node (STANDALONE without --shard-peers). */
  shard: ShardControl;

  constructor(
    private readonly options: NodeServerOptions,
    readonly log: DurableLog | undefined = options.log,
  ) {
    const clock = options.clock ?? systemClock;
    this.manualTimers = options.manualTimers ?? options.clock !== undefined;
    this.maxJobBytes = Math.min(options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES, MAX_JOB_BYTES_LIMIT);
    this.maxOutputBytes = Math.max(MIN_OUTPUT_BYTES, options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
    this.maxInputBytes = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
    this.stalls = new StallWatch(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.dialect = options.dialect ?? DEFAULT_DIALECT;
    this.shard = options.shard ?? STANDALONE;
    const engineOptions: ConstructorParameters<typeof Engine>[0] = { clock };
    if (options.idStride !== undefined) engineOptions.idStride = options.idStride;
    if (options.idOffset !== undefined) engineOptions.idOffset = options.idOffset;
    if (options.maxJobsBytes !== undefined) engineOptions.maxJobsBytes = options.maxJobsBytes;
    if (this.log) engineOptions.journal = this.log;
    this.engine = new Engine(engineOptions);
    this.log?.onDurable(() => this.onDurable());
    this.listener = options.listener ?? createNodeListener(options.maxConnections);
    this.listener.server.on('drop', () => {
      this.connectionsRefused++;
      options.onConnectionRefused?.();
    });
  }

  /** The bound port; 0 on a Unix socket. */
  get port(): number {
    return this.listener.address.port;
  }

  /** The bound address; `unix:PATH` on a Unix socket. */
  get host(): string {
    return this.listener.address.host;
  }

  /** Binds (unless the listener was bound beforehand), restores, then accepts clients. */
  async listen(): Promise<void> {
    if (!this.listener.listening) {
      const { fd, host = '0.0.0.0', port = DEFAULT_PORT } = this.options;
      await this.listener.listen({ host, port, ...(fd !== undefined ? { fd } : {}) }, this.options.warn);
    }
    this.options.beforeListen?.(this.engine);
    this.listener.serve((socket) => this.accept(socket));
    this.armTimer();
  }

  private accept(socket: net.Socket): void {
    this.totalConnections++;
    socket.setKeepAlive(true);
    this.connections.add(new Connection(this, socket));
  }

  reportBackpressure(unsentBytes: number, unreadBytes: number): void {
    this.options.onBackpressure?.({ unsentBytes, unreadBytes });
  }

  forget(c: Connection): void {
    this.connections.delete(c);
    this.awaitingDurable.delete(c);
  }

  /**
   * A closed connection's socket still has replies to send: it counts against maxConnections until
   * they are out, so they must drain within the request timeout like any stalled output.
   */
  linger(socket: net.Socket): void {
    const target = { abortStalled: () => socket.destroy() };
    this.lingering.add(socket);
    this.stalls.update(target, true, true);
    socket.once('close', () => {
      this.lingering.delete(socket);
      this.stalls.end(target);
    });
  }

  /** Runs due deadlines now (tests with a fake clock call this after advancing it). */
  tick(): void {
    const next = this.engine.tick();
    this.rearm(next);
  }

  /** Arms the single timer at the engine's next deadline if that is sooner than the armed one. */
  armTimer(): void {
    if (this.manualTimers) return;
    const next = this.engine.nextDeadline();
    if (next < this.timerAtMs) this.rearm(next);
  }

  private rearm(nextMs: number): void {
    if (this.manualTimers) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = nextMs;
    if (nextMs === Number.POSITIVE_INFINITY) return;
    const delayMs = Math.max(1, Math.min(nextMs - this.engine.clock.nowMs(), 2 ** 31 - 1));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = Number.POSITIVE_INFINITY;
      this.tick();
    }, delayMs);
  }

  /** SIGUSR1: from now on every put answers DRAINING. */
  drain(): void {
    this.engine.drain();
  }

  durableSeq(): number {
    return this.log ? this.log.durableSeq() : Number.POSITIVE_INFINITY;
  }

  /**
   * No reply leaves before every record appended so far is in the OS: a reply may name a job (an id
   * in RESERVED, a body in FOUND) whose put another connection made a moment ago, and a kill -9
   * must not be able to take that job back. Cheap when nothing is pending. In -f MS / -F the
   * records are then durable, which releases the replies waiting for them.
   */
  flushLog(): void {
    this.log?.flush();
  }

  /**
   * `c` was served in this loop turn and holds its replies corked: at the end of the turn (the
   * check phase, after every read of this poll), the log is written once for all of them, then
   * each connection's replies leave in one write.
   */
  endTurn(c: Connection): void {
    this.turn[this.turnSize++] = c;
    if (this.turnSize > 1) return;
    setImmediate(this.flushTurn);
  }

  /** Every connection reads into this one buffer (Connection.onRead; copied where kept). */
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /**
   * The connections served in this turn: the first `turnSize` slots. The two lists swap and keep
   * their storage (`length = 0` would free it, and every turn would allocate it again).
   */
  private turn: (Connection | undefined)[] = [];
  private turnSize = 0;
  private spareTurn: (Connection | undefined)[] = [];
  private readonly flushTurn = (): void => {
    // A connection that joins while this runs belongs to the next turn (its records come after
    // this flushLog), so it goes to a fresh list with its own flush.
    const served = this.turn;
    const size = this.turnSize;
    this.turn = this.spareTurn;
    this.turnSize = 0;
    this.flushLog();
    for (let i = 0; i < size; i++) {
      (served[i] as Connection).uncorkTurn();
      served[i] = undefined;
    }
    this.spareTurn = served;
  };

  awaitDurable(c: Connection): void {
    this.awaitingDurable.add(c);
  }

  private onDurable(): void {
    const seq = this.durableSeq();
    for (const c of this.awaitingDurable) if (!c.releaseDurable(seq)) this.awaitingDurable.delete(c);
  }

  /**
   * Closes every client connection now; replies still waiting for their records are never sent (a
   * primary stepping down: those changes may never be confirmed). Replies already written go out.
   */
  dropClients(): void {
    for (const c of [...this.connections]) c.close();
    this.awaitingDurable.clear();
  }

  jobFile(id: number): number {
    return this.log?.fileOf?.(id) ?? 0;
  }

  renderStats(): string {
    return renderStats(
      serverStats(this.engine.counts, this.cmd, this.engine.draining, {
        maxJobBytes: this.maxJobBytes,
        totalConnections: this.totalConnections,
        version: this.dialect,
        uptimeSecs: Math.floor((Date.now() - this.startedAtMs) / 1000),
        binlog: this.log?.stats(),
        instanceId: this.instanceId,
        hostname: os.hostname(),
        os: os.version(),
        platform: os.machine(),
      }),
      this.dialect,
    );
  }

  /** Stops listening, closes every connection (their reservations return to ready), closes the log. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.manualTimersStop();
    const closed = new Promise<void>((resolve) => this.listener.server.close(() => resolve()));
    // Confirmations already earned go out before the sockets close: a clean stop must not leave a
    // client without the INSERTED/DELETED of a change that the log's close makes durable anyway.
    await this.untilDurable(CLOSE_DURABLE_WAIT_MS);
    for (const c of [...this.connections]) c.close();
    this.shard.stop();
    // A client that never reads would otherwise hold the listener (and the process) open forever.
    const grace = setTimeout(() => {
      for (const socket of this.lingering) socket.destroy();
    }, SHUTDOWN_GRACE_MS);
    await closed;
    clearTimeout(grace);
    this.stalls.close();
    await this.log?.close();
  }

  /**
   * Resolves once every change made so far is durable (the gated replies are out), or after maxMs
   * when the log cannot get there (a failing disk: its close reports that).
   */
  private untilDurable(maxMs: number): Promise<void> {
    const log = this.log;
    if (!log || log.durableSeq() >= this.engine.lastJournalSeq) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (typeof off === 'function') off();
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      const off = log.onDurable(() => {
        if (log.durableSeq() >= this.engine.lastJournalSeq) done();
      });
    });
  }

  private manualTimersStop(): void {
    this.timerAtMs = Number.NEGATIVE_INFINITY; // nothing re-arms after close
  }
}

/** The node's client listener, for binding before the server exists (NodeServerOptions.listener). */
export function createNodeListener(maxConnections = DEFAULT_MAX_CONNECTIONS): Listener {
  const listener = new Listener({ allowHalfOpen: true, noDelay: true });
  // Set before binding: connections held while the binlog replays are bounded too.
  listener.server.maxConnections = maxConnections;
  return listener;
}

export async function startNodeServer(options: NodeServerOptions = {}): Promise<NodeServer> {
  const server = new NodeServer(options);
  await server.listen();
  return server;
}
