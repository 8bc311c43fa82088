/**
 * `stalkd proxy`: the sharding proxy in front of stalkd nodes or stock beanstalkd servers, and
 * `stalkd placement`: which node owns a tube under a given topology (the same code as the proxy).
 */
import { type Command, Option } from 'commander';
import { ADMIN_TOKEN_ENV, READ_TOKEN_ENV } from '../dashboard/admin-token';
import { type LogFormat, type LogLevel, processFields } from '../log/logger';
import type { ProxyMetricsSource, startProxyMetrics } from '../metrics/proxy-metrics';
import { endpointText, localAddressFor } from '../net/endpoint';
import { DEFAULT_MAX_INFLIGHT, DEFAULT_PROXY_MAX_CONNECTIONS } from '../net/limits';
import { DEFAULT_FAILOVER_AFTER_MS } from '../proxy/node/failover';
import { defaultPoolOptions } from '../proxy/node/node-pool';
import { DEFAULT_SCAN_INTERVAL_MS } from '../proxy/previous-owners';
import { Placement } from '../proxy/ring';
import { DEFAULT_RESERVE_SLICE_SECS, type ProxyServer, startProxyServer } from '../proxy/server';
import type { Topology } from '../proxy/topology';
import { TopologyReloader } from '../proxy/topology-reload';
import { STALKD_VERSION } from '../version';
import {
  addDashboardTlsOptions,
  checkDashboardTls,
  type DashboardTlsCommandOptions,
  dashboardTlsFromOptions,
} from './dashboard-tls';
import { announceListening, drainOnSignal, stopOnSignals } from './lifecycle';
import {
  addCompatOption,
  addLimitOptions,
  addListenOptions,
  addTlsOptions,
  type CompatCommandOptions,
  type LimitCommandOptions,
  type ListenCommandOptions,
  listenTargetFrom,
  maxJobBytesFrom,
  type TlsCommandOptions,
  tlsFromOptions,
} from './limit-options';
import { addLogOptions, loggerFrom } from './log-options';
import { NodeTransitions } from './node-transitions';
import { increase, parseInteger, parsePort } from './options';
import { proxyClusterView } from './proxy-view';
import { topologyFromOptions } from './topology-options';
import { type Account, becomeUser } from './user';

export interface ProxyCommandOptions
  extends LimitCommandOptions,
    TlsCommandOptions,
    DashboardTlsCommandOptions,
    ListenCommandOptions,
    CompatCommandOptions {
  nodes?: string;
  topology?: string;
  /** false with --no-topology-watch: the file is re-read on SIGHUP only. */
  topologyWatch: boolean;
  nodeTimeoutMs: number;
  scanIntervalMs: number;
  failoverAfterMs: number;
  shardToken?: string;
  maxInflight: number;
  reserveSlice: number;
  metricsPort: number;
  metricsHost: string;
  adminToken?: string;
  dashboardReadToken?: string;
  dashboard: boolean;
  verbose: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
}

/** How long the dashboard's tube move waits for reserved jobs, ms (`stalkd migrate`'s default). */
const MOVE_WAIT_MS = 30_000;

function addTopologyOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--nodes <list>', 'nodes as HOST:PORT or unix:PATH[,NAME=HOST:PORT…]; index = position').env(
        'STALKD_NODES',
      ),
    )
    .addOption(
      new Option('--topology <file>', 'cluster description (cluster/README.md)').env('STALKD_TOPOLOGY'),
    );
}

export function registerProxyCommand(program: Command): Command {
  const proxy = addCompatOption(
    addListenOptions(
      program.command('proxy').description('run the sharding proxy: clients see one beanstalkd'),
    ),
  )
    .addOption(
      new Option('--node-timeout-ms <ms>', 'a node that does not answer in time is marked down')
        .argParser(parseInteger(50, 600_000))
        .default(defaultPoolOptions.nodeTimeoutMs),
    )
    .addOption(
      new Option(
        '--scan-interval-ms <ms>',
        'how often the nodes are asked which tubes they hold without owning them (docs/migration.md)',
      )
        .argParser(parseInteger(50, 600_000))
        .default(DEFAULT_SCAN_INTERVAL_MS),
    )
    .addOption(
      new Option(
        '--failover-after-ms <ms>',
        "promote a shard's most advanced in-sync standby once its primary has failed this long",
      )
        .argParser(parseInteger(100, 600_000))
        .default(DEFAULT_FAILOVER_AFTER_MS),
    )
    .addOption(new Option('--shard-token <token>', 'x-auth token of the shards (x-promote)'))
    .addOption(
      new Option(
        '--max-inflight <n>',
        "requests outstanding on one client's node connection before the next waits",
      )
        .argParser(parseInteger(1, 1_000_000))
        .default(DEFAULT_MAX_INFLIGHT),
    )
    .addOption(
      new Option('--reserve-slice <secs>', 'stock beanstalkd nodes: length of one reserve wait across nodes')
        .argParser(parseInteger(1, 60))
        .default(DEFAULT_RESERVE_SLICE_SECS),
    )
    .addOption(
      new Option('--metrics-port <port>', 'serve /metrics, /livez, /readyz, /placement (0 = off)')
        .argParser(parsePort)
        .default(0),
    )
    .addOption(new Option('--metrics-host <addr>', 'address for the metrics port').default('127.0.0.1'))
    .addOption(
      new Option('--admin-token <token>', 'dashboard admin actions need this token (unset: admin off)').env(
        ADMIN_TOKEN_ENV,
      ),
    )
    .addOption(
      new Option(
        '--dashboard-read-token <token>',
        'dashboard peeks (job bodies) need this or the admin token',
      ).env(READ_TOKEN_ENV),
    )
    .addOption(
      new Option(
        '--no-topology-watch',
        're-read --topology FILE on SIGHUP only, not when it changes (stalkd cluster)',
      ),
    )
    .addOption(new Option('--no-dashboard', 'do not serve the dashboard (/dashboard/) on the metrics port'))
    .addOption(new Option('-V, --verbose', 'more output (repeatable)').argParser(increase).default(0));
  const limits = { maxConnections: DEFAULT_PROXY_MAX_CONNECTIONS, inputMeaning: 'queued put bodies' };
  addLogOptions(
    addTopologyOptions(addDashboardTlsOptions(addTlsOptions(addLimitOptions(proxy, limits)))),
  ).action(async (opts: ProxyCommandOptions) => {
    await runProxy(opts);
  });
  const placement = program
    .command('placement')
    .description('print the node that owns each tube (pins first, then the ring)')
    .argument('<tubes...>', 'tube names');
  addTopologyOptions(placement).action((tubes: string[], opts: { nodes?: string; topology?: string }) => {
    const p = new Placement(topologyFromOptions(opts));
    for (const tube of tubes) {
      const { node, pinned } = p.explain(tube);
      process.stdout.write(
        `${tube}\t${node.name}\t${endpointText(node.host, node.port)}\t${pinned ? 'pinned' : 'ring'}\n`,
      );
    }
  });
  return proxy;
}

function metricsSource(
  server: ProxyServer,
  stopping: () => boolean,
  reloader: () => TopologyReloader | null,
): ProxyMetricsSource {
  return {
    migration: () => {
      const names = new Map(server.pool.all().map((l) => [l.node.index, l.node.name]));
      const last = server.scanner.last;
      return {
        jobsOnNonOwners: [...(last?.jobsOffOwner ?? [])].map(([index, jobs]) => ({
          node: names.get(index) ?? String(index),
          jobs,
        })),
        tubesWithPreviousOwners: server.routing.previousOwners().size,
        topologyVersion: reloader()?.version ?? 0,
      };
    },
    shards: () => server.failover.status(),
    clientConnections: () => server.counters.currentConnections,
    reserveWaiting: () => server.counters.currentWaiting,
    backends: () => server.pool.all().map((l) => ({ node: l.node.name, up: l.up })),
    placement: function* () {
      for (const [tube, node] of server.placement.knownTubes()) yield { tube, node: node.name };
    },
    topologyLoaded: () => true,
    draining: () => stopping() || server.counters.draining,
  };
}

export async function runProxy(opts: ProxyCommandOptions): Promise<void> {
  const log = loggerFrom(opts, 'proxy');
  const transitions = new NodeTransitions(log);
  const topology = topologyFromOptions(opts);
  const tls = tlsFromOptions(opts);
  const dashboardOn = opts.metricsPort > 0 && opts.dashboard;
  const dashboardTls = dashboardTlsFromOptions(opts, tls, dashboardOn);
  let isStopping = (): boolean => false;
  let recorder: Awaited<ReturnType<typeof startProxyMetrics>>['recorder'] | undefined;
  let reloader: TopologyReloader | null = null;
  const { target, activation } = listenTargetFrom(opts, (line) => log.warn(line));
  const server = await startProxyServer({
    ...target,
    nodes: topology.nodes,
    pins: Object.fromEntries(topology.pins),
    maxJobBytes: maxJobBytesFrom(opts, 'stalkd proxy'),
    dialect: opts.compat,
    reserveSliceSec: opts.reserveSlice,
    pool: { nodeTimeoutMs: opts.nodeTimeoutMs },
    scanIntervalMs: opts.scanIntervalMs,
    failover: { failoverAfterMs: opts.failoverAfterMs, shardToken: opts.shardToken },
    failoverEvents: {
      primaryChanged: (shard, reason, from, to, term, seconds) => {
        recorder?.failover(shard, reason, seconds);
        log.warn('primary changed', {
          shard,
          reason,
          from,
          to,
          term,
          failing_ms: Math.round(seconds * 1000),
        });
        transitions.reconnected(shard);
      },
      // Rate-limited per shard and kind of answer (its numbers left out): a new reason is logged
      // at once — `no standby answers`, then `no in-sync standby` once a member is back.
      promotionRefused: (shard, member, answer) =>
        log.warnLimited(`promotion-${shard}-${answer.replace(/\d+/g, 'N')}`, 'no failover', {
          shard,
          member,
          answer,
        }),
    },
    maxClients: opts.maxConnections,
    maxInflight: opts.maxInflight,
    maxOutputBytes: opts.maxOutputBytes,
    maxInputBytes: opts.maxInputBytes,
    requestTimeoutMs: opts.requestTimeoutMs,
    warn: (line) => log.warn(line),
    ...(tls ? { tls } : {}),
    requestEvents: opts.metricsPort > 0,
    events: {
      command: (c, r, s) => recorder?.command(c, r, s),
      reserveWait: (c, r, s) => recorder?.reserveWait(c, r, s),
      fanout: (c, s) => recorder?.fanout(c, s),
      backendError: (n, k) => {
        recorder?.backendError(n, k);
        transitions.failed(n, k);
      },
      backendReconnect: (n) => {
        recorder?.backendReconnect(n);
        transitions.reconnected(n);
      },
      clientAccepted: () => recorder?.clientAccepted(),
      clientRefused: () => {
        recorder?.clientRefused();
        log.warnLimited('max-connections', 'connection refused', { max_connections: opts.maxConnections });
      },
      clientTimedOut: () => {
        recorder?.clientTimedOut();
        log.warnLimited('request-timeout', 'connection closed: request or replies stalled', {
          request_timeout_ms: opts.requestTimeoutMs,
        });
      },
    },
  });
  // beanstalkd's order: bound, then -u USER; the metrics port below is opened as that user.
  let account: Account | undefined;
  try {
    account = opts.user !== undefined ? becomeUser(opts.user) : undefined;
  } catch (err) {
    await server.close();
    throw err;
  }
  // Peeks and admin actions use the client port like any client: over TLS when it serves TLS.
  const opsTarget = {
    host: localAddressFor(server.host),
    port: server.port,
    ...(dashboardTls ? { tls: dashboardTls } : {}),
  };
  if (dashboardOn && dashboardTls) {
    try {
      await checkDashboardTls(opsTarget, opts.tlsVerifyClients === true);
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  // prom-client, the HTTP server, the dashboard and ws are loaded only when served.
  const metrics =
    opts.metricsPort > 0
      ? await (await import('../metrics/proxy-metrics')).startProxyMetrics(
          metricsSource(
            server,
            () => isStopping(),
            () => reloader,
          ),
          { host: opts.metricsHost, port: opts.metricsPort },
        )
      : undefined;
  recorder = metrics?.recorder;
  metrics?.server.addRoute('/placement', (req, res) => {
    const tube = new URL(req.url ?? '/', 'http://x').searchParams.get('tube');
    if (!tube) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('usage: /placement?tube=NAME\n');
      return;
    }
    const { node, pinned } = server.placement.explain(tube);
    const body = { tube, node: node.name, index: node.index, host: node.host, port: node.port, pinned };
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  });
  const dashboard =
    metrics && opts.dashboard
      ? (await import('../dashboard')).attachDashboard(metrics.server, {
          view: proxyClusterView(server),
          target: opsTarget,
          adminToken: opts.adminToken,
          readToken: opts.dashboardReadToken,
          ...(opts.topology
            ? {
                mover: new (await import('./dashboard-move')).TopologyTubeMover({
                  file: opts.topology,
                  followed: () => reloader,
                  waitMs: MOVE_WAIT_MS,
                }),
              }
            : {}),
        })
      : undefined;
  log.info('start', {
    ...processFields(STALKD_VERSION),
    listen: endpointText(server.host, server.port),
    socket: activation,
    user: account?.name,
    tls: tls ? (opts.tlsVerifyClients ? 'client certificates required' : 'on') : 'off',
    nodes: server.pool.all().length,
    topology: opts.topology ?? 'from --nodes',
    metrics: metrics ? `${opts.metricsHost}:${metrics.server.port}` : 'off',
    dashboard: dashboard ? (dashboard.adminEnabled ? 'admin on' : 'admin off') : 'off',
  });
  for (const l of server.pool.all()) if (!l.up) transitions.initiallyDown(l.node.name);
  if (opts.topology)
    reloader = followTopology(opts.topology, topology, server, log, () => recorder, opts.topologyWatch);
  drainOnSignal(log, () => {
    server.counters.draining = true;
  });
  isStopping = stopOnSignals(
    log,
    () => {
      reloader?.close();
      return Promise.all([dashboard?.close(), server.close(), metrics?.server.close()]);
    },
    () => ({ clients: server.counters.currentConnections }),
  );
  // -V lines once signals are handled (harnesses wait for `bind`, then may stop the process).
  if (opts.verbose > 0) {
    process.stderr.write(`pid ${process.pid}\nbind ${endpointText(server.host, server.port)}\n`);
    if (tls) process.stderr.write(`tls on${opts.tlsVerifyClients ? ', client certificates required' : ''}\n`);
    for (const l of server.pool.all()) {
      process.stderr.write(
        `node ${l.node.index} ${l.node.name} ${endpointText(l.node.host, l.node.port)} ${l.kind}${l.up ? '' : ' DOWN'}\n`,
      );
    }
    if (metrics) process.stderr.write(`metrics ${opts.metricsHost}:${metrics.server.port}\n`);
    if (dashboard) {
      const admin = dashboard.adminEnabled ? 'admin on' : 'admin off';
      process.stderr.write(
        `dashboard http://${opts.metricsHost}:${metrics?.server.port}/dashboard/ (${admin})\n`,
      );
    }
  }
  announceListening();
}

/** Re-reads the topology file on SIGHUP and, with `watchFile`, when it changes (topology-reload.ts). */
function followTopology(
  file: string,
  topology: Topology,
  server: ProxyServer,
  log: ReturnType<typeof loggerFrom>,
  recorder: () => { topologyReload(ok: boolean): void } | undefined,
  watchFile: boolean,
): TopologyReloader {
  const reloader = new TopologyReloader(file, topology, server, {
    reloaded: (next, version) => {
      recorder()?.topologyReload(true);
      log.info('topology reloaded', {
        topology: file,
        version,
        nodes: next.nodes.length,
        leaving: next.nodes.filter((n) => n.leaving).length,
        pins: next.pins.size,
      });
    },
    refused: (err) => {
      recorder()?.topologyReload(false);
      log.warn('topology refused, the previous one stays', { topology: file, error: err.message });
    },
  });
  if (watchFile) reloader.watch();
  process.on('SIGHUP', () => void reloader.reload());
  return reloader;
}
