/**
 * The proxy's families (families.ts PROXY) and the two small interfaces the proxy wires them with.
 *
 * 1. ProxyMetricsSource — point-in-time values, read at scrape time (collect callbacks):
 *      clientConnections()  open client connections
 *      reserveWaiting()     clients currently blocked in a reserve
 *      backends()           every configured node: { node: name, up: boolean }
 *      placement()          tube → owning node for the tubes the proxy knows (capped here)
 *      topologyLoaded()     node list read and ring built (readiness)
 *      draining?()          true once shutdown began (readiness fails first, §7.2)
 *      migration?()         jobs on non-owners by node, tubes with previous owners, topology version
 *
 * 2. ProxyMetricsRecorder — events, bumped on the hot path (pre-bound children, no label hashing
 *    after the first call of a combination):
 *      command(cmd, result, seconds)      a non-blocking command answered: counts it by reply word
 *                                         and observes its latency (request complete → reply queued)
 *      reserveWait(cmd, result, seconds)  a blocking reserve answered: counts it, and observes into
 *                                         its own histogram (keeps waits out of command latency)
 *      fanout(cmd, seconds)               a command sent to every node finished merging
 *      backendError(node, kind)           kind ∈ connect | timeout | closed | protocol | rejected
 *      backendReconnect(node)             a node came back after a failure
 *      clientAccepted()                   a client connection was accepted
 *      clientRefused(), clientTimedOut()  one was closed at the limit / for stalling
 *      topologyReload(ok)                 a topology reload was taken (true) or refused (false)
 *
 * Label values are bounded here, not trusted: `cmd` outside the protocol's verbs becomes "unknown",
 * `result` outside the protocol's reply words becomes "OTHER", an unknown error kind "other".
 *
 * Wiring, in the proxy's startup:
 *   const { server, recorder } = await startProxyMetrics(source, { host, port });
 *   … recorder.command('put', 'INSERTED', seconds) …
 *   server.addRoute('/dashboard', …); server.addUpgradeHandler(…);   // the WS dashboard
 */
import type { Counter, Histogram, Registry } from 'prom-client';
import { createRegistry, scrapeSnapshot } from './common';
import { createCounter, createGauge, createHistogram, NODE_LABEL, PROXY } from './families';
import { type MetricsServer, type Readiness, startMetricsServer } from './metrics-server';
import { DEFAULT_MAX_TUBES } from './tube-cap';

export interface BackendHealth {
  node: string;
  up: boolean;
}

export interface TubePlacement {
  tube: string;
  node: string;
}

/** What the previous-owner scan and the topology reloader know (docs/migration.md). */
export interface MigrationState {
  /** Jobs on a node that does not own their tube, by node name (nodes that answered the last scan). */
  jobsOnNonOwners: Iterable<{ node: string; jobs: number }>;
  tubesWithPreviousOwners: number;
  /** The topology in use (TopologyReloader.version); 0 without a topology file. */
  topologyVersion: number;
}

/** A replicated shard as the proxy sees it (node/failover.ts ShardStatus fits). */
export interface ShardView {
  shard: string;
  primary: string;
  term: number;
  inSyncStandbys: number;
}

export interface ProxyMetricsSource {
  /** Shards with replicas (none: no failover series). */
  shards?(): Iterable<ShardView>;
  migration?(): MigrationState;
  clientConnections(): number;
  reserveWaiting(): number;
  backends(): Iterable<BackendHealth>;
  placement(): Iterable<TubePlacement>;
  topologyLoaded(): boolean;
  draining?(): boolean;
}

export const BACKEND_ERROR_KINDS = ['connect', 'timeout', 'closed', 'protocol', 'rejected'] as const;
export type BackendErrorKind = (typeof BACKEND_ERROR_KINDS)[number];

export interface ProxyMetricsRecorder {
  command(cmd: string, result: string, seconds: number): void;
  reserveWait(cmd: string, result: string, seconds: number): void;
  fanout(cmd: string, seconds: number): void;
  backendError(node: string, kind: BackendErrorKind): void;
  backendReconnect(node: string): void;
  clientAccepted(): void;
  clientRefused(): void;
  clientTimedOut(): void;
  /** A shard's primary changed after `seconds` of failing (reason: FailoverReason). */
  failover(shard: string, reason: string, seconds: number): void;
  topologyReload(ok: boolean): void;
}

const words = (text: string): ReadonlySet<string> => new Set(text.trim().split(/\s+/));

/** Verbs as spelled on the wire (beanstalkd 1.13 plus the stalkd extensions). */
const COMMANDS = words(`
  put peek peek-ready peek-delayed peek-buried reserve reserve-with-timeout reserve-job delete
  release bury kick kick-job touch stats stats-job stats-tube use watch ignore list-tubes
  list-tube-used list-tubes-watched pause-tube quit x-hello x-cancel x-unreserve x-reserve-wait`);

/** Every first word of a beanstalkd reply. */
const RESULTS = words(`
  INSERTED BURIED EXPECTED_CRLF JOB_TOO_BIG DRAINING USING RESERVED DEADLINE_SOON TIMED_OUT
  DELETED NOT_FOUND RELEASED TOUCHED WATCHING NOT_IGNORED FOUND KICKED OK PAUSED OUT_OF_MEMORY
  INTERNAL_ERROR BAD_FORMAT UNKNOWN_COMMAND CANCELLED NOT_WAITING UNRESERVED`);

export interface ProxyMetricsOptions {
  /** Placement series beyond this many tubes are dropped (and counted). */
  maxTubes?: number;
}

export function registerProxyMetrics(
  registry: Registry,
  source: ProxyMetricsSource,
  options: ProxyMetricsOptions = {},
): ProxyMetricsRecorder {
  const maxTubes = options.maxTubes ?? DEFAULT_MAX_TUBES;
  createGauge(registry, PROXY.clientConnections, function () {
    this.set(source.clientConnections());
  });
  createGauge(registry, PROXY.reserveWaiting, function () {
    this.set(source.reserveWaiting());
  });
  createGauge(registry, PROXY.backendUp, function () {
    this.reset();
    for (const b of source.backends()) this.set({ [NODE_LABEL]: b.node }, b.up ? 1 : 0);
  });
  const errors = createCounter(registry, PROXY.backendErrors, function () {
    // Zero series for every node × kind, so rate() shows 0 rather than nothing before a failure.
    for (const b of source.backends())
      for (const kind of BACKEND_ERROR_KINDS) this.inc({ [NODE_LABEL]: b.node, kind }, 0);
  });
  const reconnects = createCounter(registry, PROXY.backendReconnects, function () {
    for (const b of source.backends()) this.inc({ [NODE_LABEL]: b.node }, 0);
  });
  const placement = scrapeSnapshot(() => {
    const kept: TubePlacement[] = [];
    let seen = 0;
    for (const p of source.placement()) if (seen++ < maxTubes) kept.push(p);
    return { kept, dropped: seen - kept.length };
  });
  createGauge(registry, PROXY.tubePlacement, function () {
    this.reset();
    for (const p of placement.refresh().kept) this.set({ tube: p.tube, [NODE_LABEL]: p.node }, 1);
  });
  createCounter(registry, PROXY.tubeSeriesDropped, function () {
    this.inc(placement.current().dropped);
  });
  registerMigrationMetrics(registry, source);
  const reloads = createCounter(registry, PROXY.topologyReloads);
  for (const result of ['ok', 'failed']) reloads.inc({ result }, 0);
  const accepted = createCounter(registry, PROXY.clientConnectionsAccepted);
  const refused = createCounter(registry, PROXY.clientConnectionsRefused);
  const timedOut = createCounter(registry, PROXY.clientConnectionsTimedOut);
  const commands = createCounter(registry, PROXY.commands);
  const latency = createHistogram(registry, PROXY.commandDuration);
  const waits = createHistogram(registry, PROXY.reserveWait);
  const fanouts = createHistogram(registry, PROXY.fanoutDuration);
  return new Recorder(commands, latency, waits, fanouts, errors, reconnects, {
    accepted,
    refused,
    timedOut,
    reloads,
    failover: registerShardMetrics(registry, source),
  });
}

const FAILOVER_REASONS = ['primary_failed', 'adopted'] as const;

/** Failovers (events) and each replicated shard's primary, term and in-sync standbys (scrape time). */
function registerShardMetrics(
  registry: Registry,
  source: ProxyMetricsSource,
): (shard: string, reason: string, seconds: number) => void {
  const shards = () => source.shards?.() ?? [];
  const failovers = createCounter(registry, PROXY.failovers, function () {
    for (const s of shards())
      for (const reason of FAILOVER_REASONS) this.inc({ [NODE_LABEL]: s.shard, reason }, 0);
  });
  const duration = createHistogram(registry, PROXY.failoverDuration);
  createGauge(registry, PROXY.shardPrimary, function () {
    this.reset();
    for (const s of shards()) this.set({ [NODE_LABEL]: s.shard, primary: s.primary }, 1);
  });
  createGauge(registry, PROXY.shardTerm, function () {
    this.reset();
    for (const s of shards()) this.set({ [NODE_LABEL]: s.shard }, s.term);
  });
  createGauge(registry, PROXY.shardInSyncStandbys, function () {
    this.reset();
    for (const s of shards()) this.set({ [NODE_LABEL]: s.shard }, s.inSyncStandbys);
  });
  return (shard, reason, seconds) => {
    const known = (FAILOVER_REASONS as readonly string[]).includes(reason) ? reason : 'other';
    failovers.inc({ [NODE_LABEL]: shard, reason: known });
    if (known === 'primary_failed') duration.observe(seconds);
  };
}

function registerMigrationMetrics(registry: Registry, source: ProxyMetricsSource): void {
  const state = scrapeSnapshot(() => source.migration?.() ?? null);
  createGauge(registry, PROXY.jobsOnNonOwners, function () {
    this.reset();
    for (const { node, jobs } of state.refresh()?.jobsOnNonOwners ?? [])
      this.set({ [NODE_LABEL]: node }, jobs);
  });
  createGauge(registry, PROXY.tubesWithPreviousOwners, function () {
    this.set(state.current()?.tubesWithPreviousOwners ?? 0);
  });
  createGauge(registry, PROXY.topologyVersion, function () {
    this.set(state.current()?.topologyVersion ?? 0);
  });
}

type Inc = { inc(value?: number): void };
type Observe = { observe(value: number): void };

class Recorder implements ProxyMetricsRecorder {
  private readonly counted = new Map<string, Map<string, Inc>>();
  private readonly latencyOf = new Map<string, Observe>();
  private readonly waitOf = new Map<string, Observe>();
  private readonly fanoutOf = new Map<string, Observe>();

  constructor(
    private readonly commands: Counter<'command' | 'result'>,
    private readonly latency: Histogram<'command'>,
    private readonly waits: Histogram<'command'>,
    private readonly fanouts: Histogram<'command'>,
    private readonly errors: Counter<typeof NODE_LABEL | 'kind'>,
    private readonly reconnects: Counter<typeof NODE_LABEL>,
    private readonly clients: {
      accepted: Counter<string>;
      refused: Counter<string>;
      timedOut: Counter<string>;
      reloads: Counter<'result'>;
      failover: (shard: string, reason: string, seconds: number) => void;
    },
  ) {}

  command(cmd: string, result: string, seconds: number): void {
    this.count(cmd, result);
    bound(this.latencyOf, this.latency, commandLabel(cmd)).observe(seconds);
  }

  reserveWait(cmd: string, result: string, seconds: number): void {
    this.count(cmd, result);
    bound(this.waitOf, this.waits, commandLabel(cmd)).observe(seconds);
  }

  fanout(cmd: string, seconds: number): void {
    bound(this.fanoutOf, this.fanouts, commandLabel(cmd)).observe(seconds);
  }

  backendError(node: string, kind: BackendErrorKind): void {
    this.errors.inc({
      [NODE_LABEL]: node,
      kind: (BACKEND_ERROR_KINDS as readonly string[]).includes(kind) ? kind : 'other',
    });
  }

  backendReconnect(node: string): void {
    this.reconnects.inc({ [NODE_LABEL]: node });
  }

  clientAccepted(): void {
    this.clients.accepted.inc();
  }

  clientRefused(): void {
    this.clients.refused.inc();
  }

  clientTimedOut(): void {
    this.clients.timedOut.inc();
  }

  failover(shard: string, reason: string, seconds: number): void {
    this.clients.failover(shard, reason, seconds);
  }

  topologyReload(ok: boolean): void {
    this.clients.reloads.inc({ result: ok ? 'ok' : 'failed' });
  }

  private count(cmd: string, result: string): void {
    const command = commandLabel(cmd);
    if (!RESULTS.has(result)) result = 'OTHER';
    let byResult = this.counted.get(command);
    if (!byResult) this.counted.set(command, (byResult = new Map()));
    let child = byResult.get(result);
    if (!child) {
      child = this.commands.labels(command, result);
      byResult.set(result, child);
    }
    child.inc();
  }
}

function commandLabel(cmd: string): string {
  return COMMANDS.has(cmd) ? cmd : 'unknown';
}

function bound(cache: Map<string, Observe>, histogram: Histogram<'command'>, command: string): Observe {
  let child = cache.get(command);
  if (!child) {
    child = histogram.labels(command);
    cache.set(command, child);
  }
  return child;
}

/**
 * Ready while the topology is loaded, the proxy is not draining, and at least one node is up: one
 * down node only makes its tubes fail (visible in stalkd_proxy_backend_up), it does not pull the
 * whole proxy out of rotation.
 */
export function proxyReadiness(source: ProxyMetricsSource): Readiness {
  if (!source.topologyLoaded()) return { ok: false, reason: 'topology not loaded' };
  if (source.draining?.()) return { ok: false, reason: 'draining' };
  const down: string[] = [];
  let up = 0;
  for (const b of source.backends()) {
    if (b.up) up++;
    else down.push(b.node);
  }
  if (up === 0)
    return { ok: false, reason: down.length ? `no node reachable (${down.join(', ')})` : 'no nodes' };
  return { ok: true };
}

export interface ProxyMetricsEndpointOptions extends ProxyMetricsOptions {
  host: string;
  port: number;
}

export async function startProxyMetrics(
  source: ProxyMetricsSource,
  options: ProxyMetricsEndpointOptions,
): Promise<{ server: MetricsServer; recorder: ProxyMetricsRecorder; registry: Registry }> {
  const registry = createRegistry('proxy');
  const recorder = registerProxyMetrics(registry, source, options);
  const server = await startMetricsServer({
    host: options.host,
    port: options.port,
    registry,
    live: () => true,
    ready: () => proxyReadiness(source),
  });
  return { server, recorder, registry };
}
