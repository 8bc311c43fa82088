/** `stalkd node`: one storage node, flags as beanstalkd's (-l -p -z -V …) plus long forms. */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import { DEFAULT_FSYNC_EVERY_MS, DEFAULT_SEGMENT_BYTES, openBinlog, restoreInto } from '../binlog';
import { type Logger, processFields } from '../log/logger';
import { endpointText } from '../net/endpoint';
import { DEFAULT_MAX_CONNECTIONS } from '../net/limits';
import { createNodeListener, type NodeServerOptions, startNodeServer } from '../server/node-server';
import { STALKD_VERSION } from '../version';
import { announceListening, drainOnSignal, stopOnSignals } from './lifecycle';
import {
  addCompatOption,
  addLimitOptions,
  addListenOptions,
  type CompatCommandOptions,
  type LimitCommandOptions,
  type ListenCommandOptions,
  listenTargetFrom,
  maxJobBytesFrom,
} from './limit-options';
import { addLogOptions, type LogCommandOptions, loggerFrom } from './log-options';
import { increase, parseInteger, parsePort } from './options';
import { addReplicationOptions, attachMember, type ReplicationCommandOptions } from './replication-options';
import { becomeUser } from './user';

export interface NodeCommandOptions
  extends LimitCommandOptions,
    ListenCommandOptions,
    LogCommandOptions,
    CompatCommandOptions,
    ReplicationCommandOptions {
  binlogDir?: string;
  fsyncMs: number;
  /** false with -F / --no-fsync. */
  fsync: boolean;
  binlogSize: number;
  verbose: number;
  idStride: number;
  idOffset: number;
  metricsPort: number;
  metricsHost: string;
  metricsMaxTubes: number;
  metricsTubes: string[];
  nodeName: string;
  nodeIndex?: number;
  maxJobsBytes: number;
}

export function registerNodeCommand(program: Command): Command {
  const node = addCompatOption(
    addListenOptions(program.command('node').description('run one storage node (a drop-in beanstalkd 1.13)')),
  )
    .addOption(new Option('-b, --binlog-dir <dir>', 'keep a write-ahead log in DIR (jobs survive restarts)'))
    .addOption(
      new Option('-f, --fsync-ms <ms>', 'fsync at most every MS ms; 0 = before every confirming reply')
        .argParser(parseInteger(0, 3_600_000))
        .default(DEFAULT_FSYNC_EVERY_MS),
    )
    .addOption(new Option('-F, --no-fsync', 'never fsync (the OS writes the log back when it likes)'))
    .addOption(
      new Option('-s, --binlog-size <bytes>', 'size of each binlog segment file')
        .argParser(parseInteger(4096, 1 << 30))
        .default(DEFAULT_SEGMENT_BYTES),
    )
    .addOption(new Option('-V, --verbose', 'more output (repeatable)').argParser(increase).default(0))
    .addOption(
      new Option('--id-stride <k>', 'job ids advance by k (cluster nodes)')
        .argParser(parseInteger(1, 1 << 20))
        .default(1),
    )
    .addOption(
      new Option('--id-offset <r>', 'first job id, 1..stride (cluster nodes: index + 1)')
        .argParser(parseInteger(1, 1 << 20))
        .default(1),
    )
    .addOption(
      new Option('--metrics-port <port>', 'serve /metrics, /livez, /readyz on this port (0 = off)')
        .argParser(parsePort)
        .default(0),
    )
    .addOption(new Option('--metrics-host <addr>', 'address for the metrics port').default('127.0.0.1'))
    .addOption(
      new Option('--metrics-max-tubes <n>', 'per-tube series for at most the n tubes holding most jobs')
        .argParser(parseInteger(0, 100_000))
        .default(100),
    )
    .addOption(
      new Option('--metrics-tubes <names>', 'comma-separated tubes always given per-tube series')
        .argParser((v: string) => v.split(',').filter((name) => name.length > 0))
        .default([]),
    )
    .addOption(
      new Option(
        '--max-jobs-bytes <bytes>',
        "puts past this much memory of job records and bodies answer OUT_OF_MEMORY (0 = no limit; set it below the container's memory limit)",
      )
        .argParser(parseInteger(0, Number.MAX_SAFE_INTEGER))
        .default(0),
    )
    .addOption(
      new Option('--node-name <name>', "this node's topology name, for metrics (stalkd_node_info)").default(
        hostname(),
        'the host name (a StatefulSet pod name)',
      ),
    )
    .addOption(
      new Option(
        '--node-index <n>',
        "this node's topology index, for metrics (default: --id-offset - 1 with --id-stride > 1)",
      ).argParser(parseInteger(0, 1 << 20)),
    );
  const limits = { maxConnections: DEFAULT_MAX_CONNECTIONS, inputMeaning: 'unprocessed input' };
  return addReplicationOptions(addLogOptions(addLimitOptions(node, limits))).action(
    async (opts: NodeCommandOptions) => {
      await runNode(opts);
    },
  );
}

/** What start-up restored, for the start line. */
interface Restored {
  jobs: number;
  replayMs: number;
}

/**
 * Opens (replays, or imports from beanstalkd) the log and has the server restore it before
 * listening. The binlog's own warnings (a failing disk repeats them) are rate-limited.
 */
async function attachBinlog(
  serverOptions: NodeServerOptions,
  opts: NodeCommandOptions,
  log: Logger,
  restored: Restored,
): Promise<void> {
  const dir = opts.binlogDir as string;
  const t0 = performance.now();
  // Unlike beanstalkd, a missing directory is created (containers mount volumes at fresh paths).
  mkdirSync(dir, { recursive: true });
  const opened = await openBinlog(dir, {
    fsyncEveryMs: opts.fsync ? opts.fsyncMs : null,
    segmentBytes: opts.binlogSize,
    log: (line) => log.warnLimited('binlog', line.replace(/^binlog: /, ''), { dir }),
  });
  for (const line of opened.notes) log.info(line, { dir });
  for (const line of opened.warnings) log.warn(line, { dir });
  serverOptions.log = opened.binlog;
  serverOptions.beforeListen = (engine) => {
    restoreInto(engine, opened);
    opened.binlog.attachJobSource((id) => engine.jobSource(id));
    restored.jobs = opened.jobs.length;
    restored.replayMs = Math.round(performance.now() - t0);
  };
}

/** The index the operator gave, else the one implied by a cluster's id stride, else unknown (''). */
function nodeIndexOf(opts: NodeCommandOptions): string {
  if (opts.nodeIndex !== undefined) return String(opts.nodeIndex);
  return opts.idStride > 1 ? String(opts.idOffset - 1) : '';
}

export async function runNode(opts: NodeCommandOptions): Promise<void> {
  const log = loggerFrom(opts, 'node');
  if (opts.idOffset > opts.idStride) throw new Error('--id-offset must be between 1 and --id-stride');
  const serverOptions: NodeServerOptions = {
    host: opts.listen,
    port: opts.port,
    maxJobBytes: maxJobBytesFrom(opts, 'stalkd'),
    dialect: opts.compat,
    idStride: opts.idStride,
    idOffset: opts.idOffset,
    maxConnections: opts.maxConnections,
    maxOutputBytes: opts.maxOutputBytes,
    maxInputBytes: opts.maxInputBytes,
    requestTimeoutMs: opts.requestTimeoutMs,
    maxJobsBytes: opts.maxJobsBytes,
    onConnectionRefused: () =>
      log.warnLimited('max-connections', 'connection refused', { max_connections: opts.maxConnections }),
    warn: (line) => log.warn(line),
  };
  // beanstalkd's order: bind, become -u USER, then open (and replay) the binlog as that user.
  const listener = createNodeListener(opts.maxConnections);
  const { target, activation } = listenTargetFrom(opts, (line) => log.warn(line));
  await listener.listen(target, serverOptions.warn);
  const account = opts.user !== undefined ? becomeUser(opts.user) : undefined;
  const restored: Restored = { jobs: 0, replayMs: 0 };
  const startMember = await attachMember(serverOptions, opts, log, restored);
  if (opts.binlogDir !== undefined && startMember === undefined)
    await attachBinlog(serverOptions, opts, log, restored);
  const server = await startNodeServer({ ...serverOptions, listener });
  startMember?.(server);
  server.stalls.onTimeout = () =>
    log.warnLimited('request-timeout', 'connection closed: request or replies stalled', {
      request_timeout_ms: opts.requestTimeoutMs,
    });
  // prom-client and the HTTP server are loaded only when metrics are served.
  const metrics =
    opts.metricsPort > 0
      ? await (await import('../metrics/node-metrics')).startNodeMetrics(server, {
          host: opts.metricsHost,
          port: opts.metricsPort,
          maxTubes: opts.metricsMaxTubes,
          tubeAllowlist: opts.metricsTubes,
          nodeName: opts.nodeName,
          nodeIndex: nodeIndexOf(opts),
          ...(opts.binlogDir !== undefined ? { binlogDir: opts.binlogDir } : {}),
        })
      : undefined;
  log.info('start', {
    ...processFields(STALKD_VERSION),
    name: opts.nodeName,
    index: nodeIndexOf(opts),
    listen: endpointText(server.host, server.port),
    socket: activation,
    user: account?.name,
    metrics: metrics ? `${metrics.host}:${metrics.port}` : 'off',
    binlog: opts.binlogDir ?? 'off',
    fsync: opts.binlogDir === undefined ? undefined : opts.fsync ? `${opts.fsyncMs}ms` : 'never',
    max_jobs_bytes: opts.maxJobsBytes || 'none',
    jobs_restored: restored.jobs,
    replay_ms: restored.replayMs,
  });
  drainOnSignal(log, () => server.drain());
  stopOnSignals(
    log,
    () => {
      server.drain();
      return Promise.all([server.close(), metrics?.close()]);
    },
    () => ({
      jobs:
        server.engine.counts.ready +
        server.engine.counts.reserved +
        server.engine.counts.delayed +
        server.engine.counts.buried,
      connections: server.engine.counts.sessions,
    }),
  );
  // -V: beanstalkd's verbose lines, after the start line and once signals are handled (harnesses
  // wait for `bind`, then may stop the process at once).
  if (opts.verbose > 0) {
    process.stderr.write(`pid ${process.pid}\nbind ${endpointText(server.host, server.port)}\n`);
    if (metrics) process.stderr.write(`metrics ${metrics.host}:${metrics.port}\n`);
  }
  announceListening();
}
