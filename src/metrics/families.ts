/**
 * Every metric family stalkd exports, declared once: name, type, help, labels, buckets.
 * node-metrics.ts and proxy-metrics.ts instantiate them (attaching collect callbacks); the docs
 * (docs/metrics.md) and the dashboard lint test check themselves against this table.
 *
 * Conventions (Prometheus naming guide): one prefix `stalkd_`, base units (`_seconds`, `_bytes`),
 * counters end in `_total`, metadata in `*_info` gauges set to 1, and no label whose sum would be
 * meaningless — where beanstalkd's figures overlap (urgent ⊂ ready; a connection can be producer
 * and worker at once) they get their own family instead of a label value.
 *
 * Cardinality, with the default caps: node ≈ 4 job states + 22 commands + 3 roles + 18 (fsync
 * histogram) + 8 series per exported tube × 100 tubes ≈ 850 series; proxy ≈ 26 commands × (results
 * seen + 18 histogram series) + 5 error kinds × nodes + placement (≤ 100 tubes).
 */
import { type CollectFunction, Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const METRIC_PREFIX = 'stalkd_';

interface FamilySpec<T extends string, L extends string> {
  readonly type: T;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
}
export type GaugeSpec<L extends string = string> = FamilySpec<'gauge', L>;
export type CounterSpec<L extends string = string> = FamilySpec<'counter', L>;
export interface HistogramSpec<L extends string = string> extends FamilySpec<'histogram', L> {
  /** Upper bounds, seconds. */
  readonly buckets: readonly number[];
}
export type AnySpec = GaugeSpec | CounterSpec | HistogramSpec;

const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
  ({ type: 'gauge', name: METRIC_PREFIX + name, help, labelNames }) as const satisfies GaugeSpec<L>;
const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
  ({ type: 'counter', name: METRIC_PREFIX + name, help, labelNames }) as const satisfies CounterSpec<L>;
const histogram = <L extends string = never>(
  name: string,
  help: string,
  buckets: readonly number[],
  labelNames: readonly L[] = [],
) => ({ type: 'histogram', name: METRIC_PREFIX + name, help, labelNames, buckets }) as const;

/**
 * A proxy hop on loopback takes ~50–200 µs and a node fsync ~0.1–10 ms, so buckets start at 50 µs;
 * 15 buckets keep a labelled histogram at 18 series per label set.
 */
export const FAST_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const;
/** Blocking reserves wait up to their timeout (clients commonly use 1 s … minutes). */
export const WAIT_BUCKETS_SECONDS = [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/**
 * The label naming a stalkd node (its topology name). Not `node`: Kubernetes service discovery and
 * many relabel configs attach `node` (the Kubernetes node a pod runs on) to every scraped series,
 * which would overwrite ours or be overwritten (`exported_node`).
 */
export const NODE_LABEL = 'stalkd_node';

/** Job states as beanstalkd counts them; urgent is a subset of ready (own family). */
export const JOB_STATES = ['ready', 'reserved', 'delayed', 'buried'] as const;
export const CONNECTION_ROLES = ['producer', 'worker', 'waiting'] as const;

/** Families on both nodes and proxies (plus prom-client's default process/nodejs metrics). */
export const COMMON = {
  buildInfo: gauge('build_info', 'Always 1; labels say what is running.', [
    'version',
    'node_version',
    'component',
  ]),
  memoryLimit: gauge(
    'memory_limit_bytes',
    'Memory the process may use: its cgroup limit (container), else the machine memory.',
  ),
} as const;

export const NODE = {
  jobs: gauge('jobs', 'Jobs on this node by state (ready includes urgent).', ['state']),
  jobsUrgent: gauge('jobs_urgent', 'Ready jobs with priority < 1024 (a subset of state="ready").'),
  jobsCreated: counter('jobs_created_total', 'Jobs created by put since start (total-jobs).'),
  commands: counter('commands_total', 'Commands received, by name as spelled on the wire.', ['command']),
  jobTimeouts: counter('job_timeouts_total', 'Reservations that ran out of TTR.'),
  connections: gauge('connections', 'Open client connections.'),
  connectionRoles: gauge(
    'connection_roles',
    'Open connections holding each role; one connection can hold several, so do not sum over role.',
    ['role'],
  ),
  connectionsAccepted: counter('connections_accepted_total', 'Client connections accepted since start.'),
  connectionsRefused: counter(
    'connections_refused_total',
    'Client connections closed at once because --max-connections were open.',
  ),
  connectionsTimedOut: counter(
    'connections_timed_out_total',
    'Client connections closed because a started request or unread replies stalled (--request-timeout-ms).',
  ),
  putsRefused: counter('puts_refused_total', 'Puts not inserted, by reason.', ['reason']),
  jobsMoved: counter(
    'jobs_moved_total',
    'Jobs moved by stalkd migrate: direction="out" deleted here once moved, "in" inserted here by x-import.',
    ['direction'],
  ),
  movesFailed: counter(
    'moves_failed_total',
    'Steps of job moves refused here (x-import not inserted, x-move-out not logged), by reason.',
    ['reason'],
  ),
  jobsMoving: gauge(
    'jobs_moving',
    'Jobs being moved out of this node (hidden until stalkd migrate finishes their move).',
  ),
  jobsBytes: gauge('jobs_bytes', "Memory of the jobs' records and bodies (what --max-jobs-bytes bounds)."),
  jobsMaxBytes: gauge('jobs_max_bytes', '--max-jobs-bytes: puts past it answer OUT_OF_MEMORY; 0 = no limit.'),
  tubes: gauge('tubes', 'Tubes that exist on this node (exported or not).'),
  draining: gauge('draining', '1 while the node refuses new puts (SIGUSR1 / shutdown), else 0.'),
  binlogFiles: gauge('binlog_files', 'Binlog segment files on disk.'),
  binlogDiskBytes: gauge('binlog_disk_bytes', 'Bytes of binlog segment files on disk (preallocated).'),
  binlogLiveBytes: gauge(
    'binlog_live_bytes',
    "Bytes of the live jobs' records: what a freshly compacted binlog would hold.",
  ),
  binlogFilesystemAvail: gauge(
    'binlog_filesystem_avail_bytes',
    'Bytes the node may still write on the binlog filesystem (statfs bavail).',
  ),
  binlogFilesystemSize: gauge('binlog_filesystem_size_bytes', 'Size of the binlog filesystem in bytes.'),
  binlogRecordsWritten: counter('binlog_records_written_total', 'Binlog records written since start.'),
  binlogWriteErrors: counter(
    'binlog_write_errors_total',
    'Failed binlog writes, fsyncs and segment creations (disk full, I/O errors) since start.',
  ),
  binlogBlockingPreallocations: counter(
    'binlog_blocking_preallocations_total',
    'Binlog segments created on the event loop (no request served meanwhile) because the one preallocated in the background was not ready or too small.',
  ),
  binlogWritable: gauge(
    'binlog_writable',
    '1 while the binlog takes records; 0 while a failed write awaits its retry or the disk is full.',
  ),
  binlogRecordsMigrated: counter(
    'binlog_records_migrated_total',
    'Binlog records copied forward by compaction since start.',
  ),
  binlogFsync: histogram(
    'binlog_fsync_duration_seconds',
    'Duration of each binlog fsync/fdatasync.',
    FAST_BUCKETS_SECONDS,
  ),
  tubeJobs: gauge('tube_jobs', 'Jobs in an exported tube by state.', ['tube', 'state']),
  tubeJobsCreated: counter('tube_jobs_created_total', 'Jobs put into an exported tube.', ['tube']),
  tubeDeletes: counter('tube_deletes_total', 'delete commands on jobs of an exported tube.', ['tube']),
  tubeReserveWaiting: gauge(
    'tube_reserve_waiting',
    'Clients blocked in reserve that watch an exported tube.',
    ['tube'],
  ),
  tubePaused: gauge('tube_paused', '1 while an exported tube is paused, else 0.', ['tube']),
  tubeOldestReadyAge: gauge(
    'tube_oldest_ready_job_age_seconds',
    'Age (since its put) of the oldest ready job of an exported tube; 0 when none is ready.',
    ['tube'],
  ),
  oldestReadyAge: gauge(
    'oldest_ready_job_age_seconds',
    'Age (since its put) of the oldest ready job on the node, every tube included; 0 when none is ready.',
  ),
  nodeInfo: gauge(
    'node_info',
    "Always 1: the node's name (its topology name) and index, for joining on instance in legends.",
    [NODE_LABEL, 'index'],
  ),
  tubeSeriesDropped: counter(
    'tube_series_dropped_total',
    'Per-tube series left out of scrapes by the tube cap, summed over scrapes.',
  ),
  // Replication (docs/replication.md, "Metrics"): only on nodes started with --shard-peers.
  replicationRole: gauge(
    'replication_role',
    "1 for the member's current role (primary, standby, candidate), 0 for the others.",
    ['role'],
  ),
  replicationTerm: gauge('replication_term', "The member's known term (grows at every change of primary)."),
  replicationSyncStandbys: gauge(
    'replication_sync_standbys',
    'Primary: --sync-standbys K, the standbys a confirming reply waits for.',
  ),
  replicationInSyncStandbys: gauge('replication_in_sync_standbys', 'Primary: standbys in sync now.'),
  replicationStandbyInSync: gauge(
    'replication_standby_in_sync',
    'Standby: 1 while in sync with its primary (it may be promoted without force).',
  ),
  replicationWaiting: gauge(
    'replication_waiting',
    'Primary: 1 while confirmations are held because fewer than K standbys are in sync.',
  ),
  replicationAlone: gauge(
    'replication_alone',
    'Primary: 1 while it confirms alone after --standby-timeout-ms (a failover can lose changes).',
  ),
  replicationLagRecords: gauge(
    'replication_lag_records',
    'Records a standby has not acknowledged (primary, per standby) or not received (standby="self").',
    ['standby'],
  ),
  replicationLagBytes: gauge(
    'replication_lag_bytes',
    'Bytes of log a standby has not acknowledged (primary, per standby); received, not yet durable (standby="self").',
    ['standby'],
  ),
  replicationLagSeconds: gauge(
    'replication_lag_seconds',
    'Age of a standby\'s oldest unacknowledged data (primary, per standby); time since it last had everything (standby="self").',
    ['standby'],
  ),
  replicationCatchups: counter(
    'replication_catchups_total',
    'Catch-ups from a standby position: sent (primary) or received (standby).',
    ['side'],
  ),
  replicationFullCopies: counter(
    'replication_full_copies_total',
    'Full copies of the log: sent (primary) or received (standby).',
    ['side'],
  ),
} as const;

export const PROXY = {
  commands: counter('proxy_commands_total', 'Client commands answered, by command and reply word.', [
    'command',
    'result',
  ]),
  commandDuration: histogram(
    'proxy_command_duration_seconds',
    'Time from a complete client request to its reply being queued; blocking reserves excluded.',
    FAST_BUCKETS_SECONDS,
    ['command'],
  ),
  reserveWait: histogram(
    'proxy_reserve_wait_seconds',
    'Time blocking reserves (reserve, reserve-with-timeout > 0) spent until answered.',
    WAIT_BUCKETS_SECONDS,
    ['command'],
  ),
  fanoutDuration: histogram(
    'proxy_fanout_duration_seconds',
    'Time to gather and merge one command sent to every node (stats, list-tubes, kick …).',
    FAST_BUCKETS_SECONDS,
    ['command'],
  ),
  backendUp: gauge('proxy_backend_up', '1 while the proxy considers the node reachable, else 0.', [
    NODE_LABEL,
  ]),
  backendErrors: counter('proxy_backend_errors_total', 'Failed node requests and connections, by kind.', [
    NODE_LABEL,
    'kind',
  ]),
  backendReconnects: counter('proxy_backend_reconnects_total', 'Successful reconnects after a failure.', [
    NODE_LABEL,
  ]),
  clientConnections: gauge('proxy_client_connections', 'Open client connections.'),
  clientConnectionsAccepted: counter(
    'proxy_client_connections_accepted_total',
    'Client connections accepted since start.',
  ),
  clientConnectionsRefused: counter(
    'proxy_client_connections_refused_total',
    'Client connections closed at once because --max-connections were open.',
  ),
  clientConnectionsTimedOut: counter(
    'proxy_client_connections_timed_out_total',
    'Client connections closed because a started request or unread replies stalled (--request-timeout-ms).',
  ),
  reserveWaiting: gauge('proxy_reserve_waiting', 'Clients currently blocked in a reserve.'),
  tubePlacement: gauge('proxy_tube_placement_info', 'Always 1: the node that owns a tube.', [
    'tube',
    NODE_LABEL,
  ]),
  tubeSeriesDropped: counter(
    'proxy_tube_series_dropped_total',
    'Placement series left out of scrapes by the tube cap, summed over scrapes.',
  ),
  failovers: counter(
    'proxy_failovers_total',
    "Changes of a shard's primary seen by this proxy, by shard and reason (primary_failed: this proxy promoted a standby; adopted: it found a higher-term primary).",
    [NODE_LABEL, 'reason'],
  ),
  failoverDuration: histogram(
    'proxy_failover_seconds',
    "Time from a shard primary's first failure to its replacement taking this proxy's commands.",
    [0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 20, 60],
  ),
  shardPrimary: gauge(
    'proxy_shard_primary_info',
    "Always 1: the member this proxy sends a shard's commands to, and that member's term.",
    [NODE_LABEL, 'primary'],
  ),
  shardTerm: gauge('proxy_shard_term', "The term of a shard's primary as this proxy last saw it.", [
    NODE_LABEL,
  ]),
  shardInSyncStandbys: gauge(
    'proxy_shard_in_sync_standbys',
    'Standbys of a shard that say they are in sync (x-role), as this proxy last asked; 0 = a failover has nothing safe to promote.',
    [NODE_LABEL],
  ),
  jobsOnNonOwners: gauge(
    'proxy_jobs_on_non_owners',
    'Jobs on a node that does not own their tube (left behind by a topology change), by node.',
    [NODE_LABEL],
  ),
  tubesWithPreviousOwners: gauge(
    'proxy_tubes_with_previous_owners',
    'Tubes with jobs on a node other than their owner (reserve, peek, kick and stats-tube consult it).',
  ),
  topologyReloads: counter(
    'proxy_topology_reloads_total',
    'Topology reloads (SIGHUP, file change), by result: ok, failed (the file was refused as a whole).',
    ['result'],
  ),
  topologyVersion: gauge(
    'proxy_topology_version',
    'The topology in use: a 48-bit hash of its file (proxies reading the same file show the same value).',
  ),
} as const;

/**
 * Declared for the dashboards before any process exports them. The observability test checks that
 * these stay without series and fails once one appears, so an entry leaves when its exporter lands.
 */
export const NOT_YET_EXPORTED: ReadonlySet<string> = new Set<string>();

export const ALL_FAMILIES: readonly AnySpec[] = [
  ...Object.values(COMMON),
  ...Object.values(NODE),
  ...Object.values(PROXY),
];

type LabelOf<S> = S extends FamilySpec<string, infer L> ? L : never;

export function createGauge<S extends GaugeSpec<string>>(
  registry: Registry,
  spec: S,
  collect?: CollectFunction<Gauge<LabelOf<S>>>,
): Gauge<LabelOf<S>> {
  return new Gauge<LabelOf<S>>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames as readonly LabelOf<S>[],
    registers: [registry],
    ...(collect ? { collect } : {}),
  });
}

export function createCounter<S extends CounterSpec<string>>(
  registry: Registry,
  spec: S,
  collect?: CollectFunction<Counter<LabelOf<S>>>,
): Counter<LabelOf<S>> {
  return new Counter<LabelOf<S>>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames as readonly LabelOf<S>[],
    registers: [registry],
    ...(collect ? { collect } : {}),
  });
}

export function createHistogram<S extends HistogramSpec<string>>(
  registry: Registry,
  spec: S,
): Histogram<LabelOf<S>> {
  return new Histogram<LabelOf<S>>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames as readonly LabelOf<S>[],
    buckets: [...spec.buckets],
    registers: [registry],
  });
}

/**
 * Sets a counter to an absolute value read from a snapshot (the engine keeps its own monotonic
 * counts; the exporter mirrors them). Call `counter.reset()` once per collect before the first set.
 */
export function setCounter<L extends string>(
  counter: Counter<L>,
  value: number,
  labels?: Partial<Record<L, string>>,
): void {
  if (labels) counter.inc(labels, value);
  else counter.inc(value);
}
