/**
 * Issue 16's target and measurements: `node-r` is `stalkd node -b DIR` with one synchronous standby
 * (`--shard-peers`, the standby `--standby`, both with the scenario's fsync policy, K = 1), judged
 * against `node-b`, the same node unreplicated, in the same run. While a load runs, the primary's
 * `stalkd_replication_lag_seconds` / `_lag_records` are scraped every 250 ms (lag p50/p99/max);
 * the full-copy measurement fills the pair, wipes the standby and times its full copy with the
 * RSS of both processes.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { rssBytes } from './machine';
import type { RunningTarget, TargetConfig, TargetName } from './targets';

const HOST = '127.0.0.1';
const SAMPLE_MS = 250;
const MiB = 1024 * 1024;

export interface ReplicatedTarget extends RunningTarget {
  standbyPort: number;
  /** SIGKILL the standby, delete its directory, start it again; resolves once it listens. */
  wipeStandby(): Promise<void>;
  readonly primaryPid: number;
  readonly standbyPid: number;
  readonly dir: string;
}

type SpawnNode = (
  config: TargetConfig,
  dir: string | undefined,
  extra: string[],
) => Promise<{ child: ChildProcess; port: number }>;

export async function startReplicated(
  config: TargetConfig,
  name: TargetName,
  spawnNode: SpawnNode,
  freePort: () => Promise<number>,
): Promise<ReplicatedTarget> {
  const spawnedAtMs = performance.now();
  const root = config.binlog?.dir;
  if (!root) throw new Error('node-r needs a binlog directory');
  const [p, s, metrics] = [await freePort(), await freePort(), await freePort()];
  const dirs = [path.join(root, 'n0'), path.join(root, 'n1')];
  const primaryArgs = ['-p', String(p), '--shard-peers', `${HOST}:${s}`, '--metrics-port', String(metrics)];
  const standbyArgs = ['-p', String(s), '--shard-peers', `${HOST}:${p}`, '--standby'];
  const [primary, first] = await Promise.all([
    spawnNode(config, dirs[0], primaryArgs),
    spawnNode(config, dirs[1], standbyArgs),
  ]);
  let standby = first.child;
  await untilRole(p, (r) => r.role === 'primary' && r['in-sync-standbys'] === '1', 30_000);
  const procs = (): ChildProcess[] => [primary.child, standby];
  const t: ReplicatedTarget = {
    name,
    host: HOST,
    port: p,
    standbyPort: s,
    dir: root,
    get pids() {
      return procs().map((c) => c.pid ?? 0);
    },
    get primaryPid() {
      return primary.child.pid ?? 0;
    },
    get standbyPid() {
      return standby.pid ?? 0;
    },
    spawnedAtMs,
    metricsUrl: `http://${HOST}:${metrics}/metrics`,
    async wipeStandby() {
      await stop(standby, 'SIGKILL');
      rmSync(dirs[1] as string, { recursive: true, force: true });
      mkdirSync(dirs[1] as string);
      standby = (await spawnNode(config, dirs[1], standbyArgs)).child;
    },
    async stop(signal = 'SIGKILL') {
      await Promise.all(procs().map((c) => stop(c, signal)));
    },
  };
  return t;
}

function stop(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill(signal);
  });
}

/** One `x-role` over the client port, as a map. */
export function xRole(port: number): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, HOST, () => socket.write('x-role\r\n'));
    let got = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('x-role: no answer')));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      const m = /^OK (\d+)\r\n/.exec(got);
      if (!m || got.length < m[0].length + Number(m[1]) + 2) return;
      socket.destroy();
      const out: Record<string, string> = {};
      for (const [, k, v] of got.matchAll(/^([a-z-]+): "?([^"\r\n]*)"?$/gm)) out[k as string] = v as string;
      resolve(out);
    });
    socket.on('error', reject);
  });
}

async function untilRole(
  port: number,
  ok: (r: Record<string, string>) => boolean,
  timeoutMs: number,
): Promise<Record<string, string>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await xRole(port).catch(() => undefined);
    if (r && ok(r)) return r;
    if (performance.now() > deadline) throw new Error(`x-role of :${port}: ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Samples the primary's lag gauges until stopped; returns p50/p99/max of what it saw. */
export function sampleLag(metricsUrl: string): () => Promise<Record<string, number>> {
  const seconds: number[] = [];
  const records: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const text = await (await fetch(metricsUrl)).text();
        const s = /^stalkd_replication_lag_seconds\{standby="[^"]+"\} (\S+)$/m.exec(text);
        const r = /^stalkd_replication_lag_records\{standby="[^"]+"\} (\S+)$/m.exec(text);
        if (s) seconds.push(Number(s[1]));
        if (r) records.push(Number(r[1]));
      } catch {
        // the target is stopping
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, SAMPLE_MS - (performance.now() - started))),
      );
    }
  })();
  const pct = (xs: number[], q: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number) : Number.NaN;
  };
  return async () => {
    running = false;
    await loop;
    return {
      lagSamples: seconds.length,
      lagP50Ms: pct(seconds, 0.5) * 1000,
      lagP99Ms: pct(seconds, 0.99) * 1000,
      lagMaxMs: pct(seconds, 1) * 1000,
      lagRecordsP99: pct(records, 0.99),
    };
  };
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) if (name.endsWith('.stalkd')) n += statSync(path.join(dir, name)).size;
  return n;
}

/**
 * After the fill: the standby is wiped and restarted; seconds until it is in sync again and holds
 * the primary's last LSN, the log's size, the primary's RSS growth (peak during the copy minus
 * before) and the standby's RSS at the end.
 */
export async function measureFullCopy(t: ReplicatedTarget): Promise<Record<string, number>> {
  const last = (await xRole(t.port))['last-lsn'];
  const logBytes = dirBytes(path.join(t.dir, 'n0'));
  const before = rssBytes(t.primaryPid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(t.primaryPid));
  }, 20);
  const started = performance.now();
  try {
    await t.wipeStandby();
    await untilRole(t.standbyPort, (r) => r['in-sync'] === 'true' && r['last-lsn'] === last, 600_000);
  } finally {
    clearInterval(sampler);
  }
  return {
    seconds: (performance.now() - started) / 1000,
    logMiB: logBytes / MiB,
    primaryRssMiB: before / MiB,
    primaryRssGrowthMiB: (peak - before) / MiB,
    standbyRssMiB: rssBytes(t.standbyPid) / MiB,
  };
}

export function isReplicated(t: RunningTarget): t is ReplicatedTarget {
  return 'wipeStandby' in t;
}
