/**
 * The proxy's TCP listener: accepts beanstalkd clients and gives each a ClientSession in front of
 * the node pool. Stateless apart from its client sessions: any number of proxies built from the
 * same topology route identically (ring.ts) and map ids identically (job-id.ts).
 *
 * Optionally TLS (`tls` options: certificate and key, optionally a CA and client-certificate
 * verification). TLS handshakes count against maxClients like plain connections and must finish
 * within the request timeout, so they cannot be used to hold connections open either.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import {
  DEFAULT_MAX_INFLIGHT,
  DEFAULT_MAX_INPUT_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PORT,
  DEFAULT_PROXY_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MIN_OUTPUT_BYTES,
} from '../net/limits';
import { listenerAddress, listenOn } from '../net/listen';
import { StallWatch } from '../net/stall-watch';
import { DEFAULT_DIALECT, type Dialect } from '../protocol/dialect';
import { DEFAULT_MAX_JOB_BYTES } from '../protocol/numbers';
import { defaultFailoverOptions, Failover, type FailoverEvents, type FailoverOptions } from './node/failover';
import {
  defaultPoolOptions,
  NodePool,
  type PoolEvents,
  type PoolOptions,
  type ShardAddress,
} from './node/node-pool';
import { DEFAULT_SCAN_INTERVAL_MS, PreviousOwnerScanner } from './previous-owners';
import { Placement } from './ring';
import { Routing } from './routing';
import { PARKING_TUBE } from './session/node-sync';
import { ClientSession } from './session/session';
import { ProxyCounters } from './stats-merge';
import type { Topology } from './topology';
import type { ProxyContext, SessionEvents } from './types';

/** The one buffer every plain TCP client is read into (a read never outlives its callback). */
const READ_BUFFER_BYTES = 64 * 1024;

/** Stock-node reserve across nodes: one blocking wait slice, seconds (reserve/stock.ts). */
export const DEFAULT_RESERVE_SLICE_SECS = 1;

export interface ProxyServerOptions {
  /** A TCP address, or `unix:PATH` for a Unix domain socket (src/net/listen.ts). */
  host?: string;
  port?: number;
  /** Listen on this inherited listening socket instead (systemd socket activation; host and port name its address). */
  fd?: number;
  /** Start-up warnings (a stale socket file replaced). */
  warn?: (line: string) => void;
  /** The nodes (index = stable index used in job ids). Weight 1 unless given. */
  nodes: Array<ShardAddress & { weight?: number; leaving?: boolean }>;
  /** tube → node name. */
  pins?: Record<string, string>;
  /** Largest put body accepted (bytes); larger ones get JOB_TOO_BIG from the proxy itself. */
  maxJobBytes?: number;
  /** The beanstalkd release spoken to clients (ProxyContext.dialect; default 1.13). */
  dialect?: Dialect;
  /** Stock-node reserve wait slice, seconds (reserve/stock.ts). */
  reserveSliceSec?: number;
  pool?: Partial<PoolOptions>;
  /** Failover of shards with replicas (node/failover.ts). */
  failover?: Partial<FailoverOptions>;
  failoverEvents?: FailoverEvents;
  /** Metrics hooks (src/metrics/proxy-metrics.ts ProxyMetricsRecorder fits). */
  events?: SessionEvents &
    PoolEvents & {
      clientAccepted(): void;
      /** A client connection was closed at once: maxClients were open. */
      clientRefused?(): void;
      /** A client connection was closed for stalling (requestTimeoutMs). */
      clientTimedOut?(): void;
    };
  /**
   * Report every request's timing to `events` (command, reserveWait, fanout); default true. Off
   * (no metrics served): no clock read, reply inspection or call per request.
   */
  requestEvents?: boolean;
  /** See ProxyContext.eagerState (default true). */
  eagerState?: boolean;
  /** See ProxyContext.sharePuts (default true). */
  sharePuts?: boolean;
  /** Max client connections (TLS handshakes included); further ones are closed at once. */
  maxClients?: number;
  /** Requests outstanding on one client's node connection before its next one waits. */
  maxInflight?: number;
  /** Unsent reply bytes per client before its requests wait (as the node's maxOutputBytes). */
  maxOutputBytes?: number;
  /** Queued put-body bytes per client before reading it pauses. */
  maxInputBytes?: number;
  /** See NodeServerOptions.requestTimeoutMs; also bounds TLS handshakes. 0 = never. */
  requestTimeoutMs?: number;
  /** TLS on the client listener (node:tls server options: key, cert, ca, requestCert …). */
  tls?: TlsOptions;
  /** Period of the previous-owner scan, ms (previous-owners.ts). */
  scanIntervalMs?: number;
}

export interface ProxyServer {
  /** The bound address: `unix:PATH` (port 0) on a Unix socket. */
  host: string;
  port: number;
  /** Which nodes own and hold each tube; `placement` is its current placement. */
  routing: Routing;
  readonly placement: Placement;
  pool: NodePool;
  /** Keeps the routing's previous owners current. */
  scanner: PreviousOwnerScanner;
  /**
   * Routes by `topology` from now on (a reload): the pool follows its node set, the previous
   * owners are scanned under it first. The caller has checked it (reload.ts).
   */
  reload(topology: Topology): Promise<void>;
  /** Watches the shards with replicas and fails them over. */
  failover: Failover;
  counters: ProxyCounters;
  /** The client listener speaks TLS. */
  tls: boolean;
  /** Closes every client session, every node connection and the listener. */
  close(): Promise<void>;
}

export function topologyOf(options: ProxyServerOptions): Topology {
  return {
    nodes: options.nodes.map((n) => ({ ...n, weight: n.weight ?? 1 })),
    pins: new Map(Object.entries(options.pins ?? {})),
    proxy: {},
  };
}

export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  const routing = new Routing(new Placement(topologyOf(options)));
  const poolOptions = { ...defaultPoolOptions, ...options.pool };
  const pool = new NodePool(options.nodes, poolOptions, options.events, PARKING_TUBE);
  const scanner = new PreviousOwnerScanner(
    routing,
    pool,
    options.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS,
    poolOptions.timers,
  );
  const counters = new ProxyCounters();
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const stalls = new StallWatch(requestTimeoutMs);
  stalls.onTimeout = () => options.events?.clientTimedOut?.();
  const ctx: ProxyContext = {
    routing,
    pool,
    counters,
    maxJobBytes: options.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES,
    dialect: options.dialect ?? DEFAULT_DIALECT,
    reserveSliceSec: options.reserveSliceSec ?? DEFAULT_RESERVE_SLICE_SECS,
    eagerState: options.eagerState ?? true,
    sharePuts: options.sharePuts ?? true,
    events: options.requestEvents === false ? null : (options.events ?? null),
    maxInflight: options.maxInflight ?? DEFAULT_MAX_INFLIGHT,
    maxOutputBytes: Math.max(MIN_OUTPUT_BYTES, options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES),
    maxInputBytes: options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES,
    stalls,
    readBuffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
  };
  const sessions = new Set<ClientSession>();
  const accept = (socket: Socket): void => {
    options.events?.clientAccepted();
    const session = new ClientSession(ctx, socket);
    sessions.add(session);
    socket.on('close', () => sessions.delete(session));
    // Plain TCP clients are accepted paused so the session can read them into ctx.readBuffer.
    if (!options.tls) socket.resume();
  };
  // keepAlive: a client host that vanished without a FIN is found by the kernel (hours, not never).
  const listenerOptions = { allowHalfOpen: true, keepAlive: true };
  const server: Server = options.tls
    ? createTlsServer(
        {
          ...listenerOptions,
          ...options.tls,
          ...(requestTimeoutMs > 0 ? { handshakeTimeout: requestTimeoutMs } : {}),
        },
        accept,
      )
    : createServer({ ...listenerOptions, pauseOnConnect: true }, accept);
  // Counted by the listener before any handshake: the limit holds for TLS clients too.
  server.maxConnections = options.maxClients ?? DEFAULT_PROXY_MAX_CONNECTIONS;
  server.on('drop', () => options.events?.clientRefused?.());
  // Every node answered (or failed) one probe: kinds are known, control channels are parked.
  await Promise.all(pool.all().map((l) => l.firstProbe));
  // Where each shard's primary is now (a proxy started after a failover finds the new one).
  const failover = new Failover(
    pool,
    { ...defaultFailoverOptions, ...options.failover },
    options.failoverEvents,
  );
  await failover.start();
  await scanner.refresh();
  scanner.start();
  const reload = async (topology: Topology): Promise<void> => {
    await pool.update(topology.nodes);
    await failover.follow(pool);
    await scanner.switchTo(new Placement(topology));
  };
  const { fd, host = '127.0.0.1', port = DEFAULT_PORT } = options;
  const target = { host, port, ...(fd !== undefined ? { fd } : {}) };
  await listenOn(server, target, options.warn);
  return {
    ...listenerAddress(server, target),
    routing,
    get placement() {
      return routing.placement;
    },
    pool,
    scanner,
    reload,
    failover,
    counters,
    tls: options.tls !== undefined,
    close: () =>
      new Promise<void>((done) => {
        // terminate, not close: a session already ending may still hold unsent output.
        for (const s of sessions) s.terminate();
        scanner.close();
        failover.close();
        pool.close();
        stalls.close();
        server.close(() => done());
      }),
  };
}
