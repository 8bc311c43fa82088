/**
 * One measurement: a fresh target, one scenario, numbers out. Server CPU is sampled from /proc at
 * the generator's #run / #done markers, so it covers exactly the measured phase.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Generator, type LoadgenResult, runLoadgen, TMP_DIR } from './loadgen';
import { totalCpuSeconds, totalRssBytes } from './machine';
import { isReplicated, measureFullCopy, sampleLag } from './replication';
import type { Scenario } from './scenarios';
import {
  isLogged,
  PROXY_NODES,
  type RunningTarget,
  serverLogTails,
  stalkdSupportsMetrics,
  startTarget,
  type TargetConfig,
  type TargetName,
  unsupported,
} from './targets';

export interface Measurement {
  scenario: string;
  target: TargetName;
  round: number;
  /** Absent when the run failed or was skipped. */
  metrics?: Record<string, number>;
  error?: string;
  skipped?: string;
  /** Server processes' CPU during the measured phase, and the generator's. */
  serverCpuSeconds?: number;
  generatorCpuSeconds?: number;
  loadgen?: LoadgenResult;
}

export interface MeasureOptions {
  gen: Generator;
  quick: boolean;
  /** Extra node flags for stalkd processes (e.g. --cpu-prof --cpu-prof-dir D). */
  nodeArgs: string[];
}

const MiB = 1024 * 1024;

export async function measure(
  scenario: Scenario,
  target: TargetName,
  round: number,
  opts: MeasureOptions,
): Promise<Measurement> {
  const base: Measurement = { scenario: scenario.id, target, round };
  const config: TargetConfig = { maxJobBytes: scenario.maxJobBytes ?? 65535, nodeArgs: opts.nodeArgs };
  if (scenario.fsync !== undefined) config.binlog = { dir: '', fsync: scenario.fsync };
  else if (isLogged(target)) config.binlog = { dir: '', fsync: 'default' };
  if (scenario.kind === 'scrape' && stalkdSupportsMetrics()) config.metrics = true;
  const why = unsupported(target, config);
  if (why) return { ...base, skipped: why };
  let dir: string | undefined;
  if (config.binlog) {
    mkdirSync(TMP_DIR, { recursive: true });
    dir = mkdtempSync(path.join(TMP_DIR, `${scenario.id}-${target}-`));
    config.binlog.dir = dir;
    for (let i = 0; i < PROXY_NODES; i++) mkdirSync(path.join(dir, `n${i}`));
  }
  try {
    switch (scenario.kind) {
      case 'memory':
        return { ...base, ...(await measureMemory(scenario, target, config, opts)) };
      case 'replay':
        return { ...base, ...(await measureReplay(scenario, target, config, opts)) };
      case 'full-copy':
        return { ...base, ...(await measureCopy(scenario, target, config, opts)) };
      default:
        return { ...base, ...(await measureLoad(scenario, target, config, opts)) };
    }
  } catch (err) {
    return { ...base, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

type Outcome = Pick<Measurement, 'metrics' | 'serverCpuSeconds' | 'generatorCpuSeconds' | 'loadgen'>;

/** Runs the generator against a running target, sampling server CPU at the phase markers. */
async function drive(scenario: Scenario, t: RunningTarget, opts: MeasureOptions): Promise<Outcome> {
  let cpuAtRun = 0;
  let cpuAtDone = Number.NaN;
  // Per process too, for the replicated pair (primary, standby).
  let pidCpuAtRun: number[] = [];
  let pidCpuAtDone: number[] = [];
  const perPid = (): number[] => t.pids.map((pid) => totalCpuSeconds([pid]));
  const args = scenario.load(opts.quick);
  // The do-nothing servers answer INSERTED 1 every time.
  if (t.name === 'null' || t.name === 'node-null' || t.name === 'node-onread') args.checkMonotonic = false;
  const lg = await runLoadgen(opts.gen, args, t.host, t.port, (marker) => {
    if (marker === 'run') {
      cpuAtRun = totalCpuSeconds(t.pids);
      pidCpuAtRun = perPid();
    } else {
      cpuAtDone = totalCpuSeconds(t.pids);
      pidCpuAtDone = perPid();
    }
  }).catch((err: unknown) => {
    // The report keeps the generator's one line; the servers' side goes to the console.
    process.stderr.write(`${scenario.id} ${t.name} failed; the servers' logs:\n${serverLogTails(t.pids)}\n`);
    throw err;
  });
  if (Number.isNaN(cpuAtDone)) {
    cpuAtDone = totalCpuSeconds(t.pids);
    pidCpuAtDone = perPid();
  }
  const metrics: Record<string, number> = { rate: lg.rate, ops: lg.ops, seconds: lg.seconds };
  const serverCpuSeconds = cpuAtDone - cpuAtRun;
  if (serverCpuSeconds > 0) metrics.opsPerServerCpuSecond = lg.ops / serverCpuSeconds;
  if (lg.seconds > 0) metrics.mibPerSecond = (lg.ops * lg.body) / MiB / lg.seconds;
  if (lg.cycleUs) {
    metrics.cycleP50Us = lg.cycleUs.p50;
    metrics.cycleP99Us = lg.cycleUs.p99;
    metrics.cycleP999Us = lg.cycleUs.p999;
  }
  if (serverCpuSeconds > 0 && lg.ops > 0) metrics.serverCpuUsPerOp = (serverCpuSeconds * 1e6) / lg.ops;
  if (isReplicated(t) && lg.ops > 0 && pidCpuAtRun.length === 2) {
    const us = (i: number): number => (((pidCpuAtDone[i] ?? 0) - (pidCpuAtRun[i] ?? 0)) * 1e6) / lg.ops;
    metrics.primaryCpuUsPerOp = us(0);
    metrics.standbyCpuUsPerOp = us(1);
  }
  if (lg.requestUs) {
    metrics.requestP50Us = lg.requestUs.p50;
    metrics.requestP99Us = lg.requestUs.p99;
  }
  if (lg.capped) metrics.capped = 1;
  return { metrics, serverCpuSeconds, generatorCpuSeconds: lg.cpuSeconds, loadgen: lg };
}

async function measureLoad(
  scenario: Scenario,
  target: TargetName,
  config: TargetConfig,
  opts: MeasureOptions,
): Promise<Outcome> {
  const t = await startTarget(target, config, opts.gen, scenario.load(opts.quick).bodyBytes);
  try {
    const lag = isReplicated(t) && t.metricsUrl ? sampleLag(t.metricsUrl) : undefined;
    const result = await drive(scenario, t, opts);
    if (lag && result.metrics) Object.assign(result.metrics, await lag());
    if (scenario.kind === 'scrape' && result.metrics && t.metricsUrl) {
      const started = performance.now();
      const res = await fetch(t.metricsUrl);
      const body = await res.text();
      result.metrics.httpSeconds = (performance.now() - started) / 1000;
      result.metrics.httpBytes = Buffer.byteLength(body);
    }
    return result;
  } finally {
    await t.stop('SIGTERM');
  }
}

async function measureMemory(
  scenario: Scenario,
  target: TargetName,
  config: TargetConfig,
  opts: MeasureOptions,
): Promise<Outcome> {
  const t = await startTarget(target, config, opts.gen, 100);
  try {
    const before = totalRssBytes(t.pids);
    const result = await drive(scenario, t, opts);
    // One second to settle (allocator and GC), then read what the kernel charges the servers.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = totalRssBytes(t.pids);
    const jobs = result.loadgen?.puts ?? 0;
    result.metrics = {
      ...result.metrics,
      rssMiB: after / MiB,
      baselineMiB: before / MiB,
      jobs,
      bytesPerJob: jobs > 0 ? (after - before) / jobs : 0,
    };
    return result;
  } finally {
    await t.stop('SIGTERM');
  }
}

/** Issue 16: fill a replicated pair, then time a full copy to its wiped standby. */
async function measureCopy(
  scenario: Scenario,
  target: TargetName,
  config: TargetConfig,
  opts: MeasureOptions,
): Promise<Outcome> {
  const t = await startTarget(target, config, opts.gen, 100);
  try {
    if (!isReplicated(t)) throw new Error(`${target} has no standby to copy to`);
    const fill = await drive(scenario, t, opts);
    return {
      metrics: {
        ...(await measureFullCopy(t)),
        jobs: fill.loadgen?.puts ?? 0,
        fillRate: fill.loadgen?.rate ?? 0,
      },
    };
  } finally {
    await t.stop('SIGTERM');
  }
}

async function measureReplay(
  scenario: Scenario,
  target: TargetName,
  config: TargetConfig,
  opts: MeasureOptions,
): Promise<Outcome> {
  const first = await startTarget(target, config, opts.gen, 100);
  let fill: Outcome;
  try {
    fill = await drive(scenario, first, opts);
  } finally {
    await first.stop('SIGKILL');
  }
  const second = await startTarget(target, config, opts.gen, 100);
  try {
    const stats = await request(second.host, second.port, 'stats\r\n');
    const readyAtMs = performance.now();
    const recovered = Number(/current-jobs-ready: (\d+)/.exec(stats)?.[1] ?? Number.NaN);
    return {
      metrics: {
        seconds: (readyAtMs - second.spawnedAtMs) / 1000,
        jobsLogged: fill.loadgen?.puts ?? 0,
        jobsRecovered: recovered,
        fillRate: fill.loadgen?.rate ?? 0,
      },
    };
  } finally {
    await second.stop('SIGTERM');
  }
}

/** One request, resolved with the complete `OK <n>` reply (or the first line of anything else). */
function request(host: string, port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => socket.write(line));
    let got = '';
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      const m = /^OK (\d+)\r\n/.exec(got);
      const complete = m ? got.length >= m[0].length + Number(m[1]) + 2 : got.includes('\r\n');
      if (complete) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}
