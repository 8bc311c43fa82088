/**
 * `stats` through the proxy: one beanstalkd's 51 keys, in its order, merged from every live node.
 *
 * - current-jobs-*, job-timeouts, total-jobs, binlog-records-*: summed.
 * - cmd-*: Σ node counters − what this proxy sent on its own behalf (NodeLink.overhead: state
 *   replay, fan-out, reserve sweeps) + client commands this proxy answered without a node
 *   (ProxyCounters.local: use, watch, ignore, list-tube*-…, malformed puts). With one proxy the
 *   counters equal what one beanstalkd would show; a second proxy's overhead is not known here.
 * - current-tubes: size of the union of the nodes' tube lists.
 * - connections/producers/workers/waiting/total-connections, pid, rusage, uptime, id, hostname,
 *   os, platform: the proxy's own (what its clients see). `version` is the protocol version the
 *   proxy speaks (`--compat`, default 1.13), whatever its nodes run: clients use it to detect
 *   features, and it is the proxy that parses their commands; stalkd's own version is in x-hello
 *   and the metrics. Strings are quoted as that version quotes them.
 * - max-job-size: min over nodes and the proxy's own limit; binlog indexes: min oldest / max current;
 *   binlog-max-size: max; draining: true if any node (or the proxy) drains.
 * Nodes that are down are left out (stats stays available during an outage; docs/proxy.md).
 */
import { randomBytes } from 'node:crypto';
import { hostname, machine, version as osVersion } from 'node:os';
import type { Dialect } from '../protocol/dialect';
import { formatString } from '../protocol/replies';
import { type CommandCounts, newCommandCounts, SERVER_STATS_FIELDS } from '../protocol/stats';

const STATS_KEYS = Object.keys(SERVER_STATS_FIELDS) as (keyof typeof SERVER_STATS_FIELDS)[];

/** The proxy's own counters: its client connections and the commands it answered itself. */
export class ProxyCounters {
  readonly startedAtMs = Date.now();
  readonly instanceId = randomBytes(8).toString('hex');
  currentConnections = 0;
  totalConnections = 0;
  currentProducers = 0;
  currentWorkers = 0;
  currentWaiting = 0;
  draining = false;
  readonly local: CommandCounts = newCommandCounts();

  countLocal(command: keyof CommandCounts): void {
    this.local[command]++;
  }
}

export interface NodeStats {
  /** The node's `stats`, read leniently (quotes stripped). */
  stats: Record<string, string>;
  /** What this proxy sent the node on its own behalf (NodeLink.overhead). */
  overhead: CommandCounts;
}

export interface MergeInput {
  nodes: NodeStats[];
  tubeCount: number;
  counters: ProxyCounters;
  maxJobBytes: number;
  dialect: Dialect;
}

function num(map: Record<string, string>, key: string): number {
  const v = Number(map[key]);
  return Number.isFinite(v) ? v : 0;
}

function rusage(micros: number): string {
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
}

function ownValues(input: MergeInput): Map<string, string> {
  const c = input.counters;
  const q = (text: string): string => formatString('string', text, input.dialect);
  const usage = process.resourceUsage();
  return new Map<string, string>([
    ['current-tubes', String(input.tubeCount)],
    ['current-connections', String(c.currentConnections)],
    ['current-producers', String(c.currentProducers)],
    ['current-workers', String(c.currentWorkers)],
    ['current-waiting', String(c.currentWaiting)],
    ['total-connections', String(c.totalConnections)],
    ['pid', String(process.pid)],
    ['version', formatString('quoted', input.dialect, input.dialect)],
    ['rusage-utime', rusage(usage.userCPUTime)],
    ['rusage-stime', rusage(usage.systemCPUTime)],
    ['uptime', String(Math.floor((Date.now() - c.startedAtMs) / 1000))],
    ['id', c.instanceId],
    ['hostname', q(hostname())],
    ['os', q(osVersion())],
    ['platform', q(machine())],
  ]);
}

function mergedValue(key: string, input: MergeInput): string {
  const { nodes } = input;
  const values = nodes.map((n) => num(n.stats, key));
  const sum = values.reduce((a, b) => a + b, 0);
  if (key.startsWith('cmd-')) {
    const command = key.slice(4) as keyof CommandCounts;
    const overhead = nodes.reduce((a, n) => a + n.overhead[command], 0);
    return String(Math.max(0, sum - overhead) + input.counters.local[command]);
  }
  switch (key) {
    case 'max-job-size':
      return String(Math.min(input.maxJobBytes, ...values));
    case 'binlog-oldest-index':
      return String(values.length ? Math.min(...values) : 0);
    case 'binlog-current-index':
    case 'binlog-max-size':
      return String(values.length ? Math.max(...values) : 0);
    case 'draining':
      return String(input.counters.draining || nodes.some((n) => n.stats.draining === 'true'));
    default:
      return String(sum);
  }
}

/** The merged `stats` YAML body. */
export function mergeStats(input: MergeInput): string {
  const own = ownValues(input);
  let out = '---\n';
  for (const key of STATS_KEYS) out += `${key}: ${own.get(key) ?? mergedValue(key, input)}\n`;
  return out;
}
