/**
 * The proxy's TCP listener: accepts beanstalkd clients and gives each a ClientSession in front of
 * the node pool. Stateless apart from its client sessions: any number of proxies built from the
 * same topology route identically (ring.ts) and map ids identically (job-id.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { STALKD_VERSION } from '../version';
import { PARKING_TUBE } from './conn-sync';
import {
  defaultPoolOptions,
  type NodeAddress,
  NodePool,
  type PoolEvents,
  type PoolOptions,
} from './node-pool';
import { Placement } from './ring';
import { ClientSession, type ProxyContext, type SessionEvents } from './session';
import { ProxyCounters } from './stats-merge';
import type { Topology } from './topology';

export interface ProxyServerOptions {
  host?: string;
  port?: number;
  /** The nodes (index = stable index used in job ids). Weight 1 unless given. */
  nodes: Array<NodeAddress & { weight?: number }>;
  /** tube → node name. */
  pins?: Record<string, string>;
  /** Largest put body accepted (bytes); larger ones get JOB_TOO_BIG from the proxy itself. */
  maxJobBytes?: number;
  /** Stock-node reserve wait slice, seconds (reserve-stock.ts). */
  reserveSliceSec?: number;
  pool?: Partial<PoolOptions>;
  /** Metrics hooks (src/metrics/proxy-metrics.ts ProxyMetricsRecorder fits). */
  events?: SessionEvents & PoolEvents & { clientAccepted(): void };
  /** See ProxyContext.eagerState (default true). */
  eagerState?: boolean;
  /** Max client connections; further ones are closed at once. */
  maxClients?: number;
}

export interface ProxyServer {
  host: string;
  port: number;
  placement: Placement;
  pool: NodePool;
  counters: ProxyCounters;
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
  const placement = new Placement(topologyOf(options));
  const park = { index: placement.ownerOf('default').index, tube: PARKING_TUBE };
  const pool = new NodePool(options.nodes, { ...defaultPoolOptions, ...options.pool }, options.events, park);
  const counters = new ProxyCounters();
  const ctx: ProxyContext = {
    placement,
    pool,
    counters,
    maxJobBytes: options.maxJobBytes ?? 65535,
    reserveSliceSec: options.reserveSliceSec ?? 1,
    version: STALKD_VERSION,
    eagerState: options.eagerState ?? true,
    events: options.events ?? null,
  };
  const sessions = new Set<ClientSession>();
  const maxClients = options.maxClients ?? 65536;
  const server: Server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    if (sessions.size >= maxClients) return void socket.destroy();
    options.events?.clientAccepted();
    const session = new ClientSession(ctx, socket);
    sessions.add(session);
    socket.on('close', () => sessions.delete(session));
  });
  // Every node answered (or failed) one probe: kinds are known, control channels are parked.
  await Promise.all(pool.all().map((l) => l.firstProbe));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 11300, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : (options.port ?? 11300);
      resolve({
        host: options.host ?? '127.0.0.1',
        port,
        placement,
        pool,
        counters,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sessions) s.close();
            pool.close();
            server.close(() => done());
          }),
      });
    });
  });
}
