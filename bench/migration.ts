/**
 * Issue 15's figures (docs/migration.md): jobs moved per second by `stalkd migrate`, and the
 * throughput clients see through the proxy while it runs, against the same load just before.
 *
 * Three `stalkd node` processes and a proxy (in this process), a backlog of BACKLOG delayed jobs over
 * 64 tubes, and a steady client load through the proxy (put + reserve + delete cycles on other
 * tubes, one connection per worker). A 4th node joins (the proxy reloads), then `stalkd migrate`
 * runs as its own process and moves the ~1/4 of the backlog whose tubes changed owner. Throughput
 * is counted in cycles per second of wall time over the window before (BEFORE_MS) and over the
 * migrate run. The goal: during the move the cluster keeps ≥ 70 % of its throughput.
 *
 * `node dist/bench/migration.js [--backlog N] [--workers N]`; `npm run bench` runs it after the
 * scenario matrix (skipped with --only unless `migration` is listed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '../src/client/client';
import { type ProxyServer, startProxyServer } from '../src/proxy/server';
import { parseTopology } from '../src/proxy/topology';
import { totalCpuSeconds } from './machine';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const EXIT_CPU = path.join(__dirname, 'exit-cpu.js');
const TUBES = Array.from({ length: 64 }, (_, i) => `bm-${i}`);
const BEFORE_MS = 3000;

export interface MigrationFigures {
  backlog: number;
  moved: number;
  migrateSeconds: number;
  movedPerSecond: number;
  cyclesPerSecondBefore: number;
  cyclesPerSecondDuring: number;
  /** during / before. */
  kept: number;
  /** CPU of the migrate process per job moved, µs (wall-clock rates on the shared VM are noisy). */
  migrateCpuUsPerJob: number;
  /** CPU of the four nodes while migrate ran, per job moved, µs (the client load's share included). */
  nodesCpuUsPerJob: number;
}

async function startNode(dir: string, i: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [CLI, 'node', '-l', '127.0.0.1', '-p', '0', '-b', path.join(dir, `n${i}`)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listen=127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`node exited (${code}): ${err}`)));
  });
  return { child, port };
}

/** One worker: put, reserve, delete on its own tube until `stop()`; counts cycles. */
async function worker(port: number, tube: string, counter: { cycles: number }, stopped: () => boolean) {
  const c = await Client.connect({ host: '127.0.0.1', port });
  await c.use(tube);
  await c.watch(tube);
  await c.ignore('default');
  while (!stopped()) {
    await c.put('x'.repeat(100));
    const job = await c.reserveWithTimeout(1);
    if (typeof job === 'object') await c.delete(job.id);
    counter.cycles++;
  }
  await c.close();
}

export async function benchMigration(backlog = 20_000, workers = 8): Promise<MigrationFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'stalkd-bench-migration-'));
  const nodes: { child: ChildProcess; port: number }[] = [];
  let proxy: ProxyServer | undefined;
  let stop = false;
  const load: Promise<void>[] = [];
  try {
    for (let i = 0; i < 4; i++) nodes.push(await startNode(dir, i));
    const entries = nodes.map((n, index) => ({
      name: `node-${index}`,
      index,
      host: '127.0.0.1',
      port: n.port,
    }));
    const three = parseTopology({ nodes: entries.slice(0, 3) });
    proxy = await startProxyServer({ port: 0, nodes: three.nodes, scanIntervalMs: 1000 });
    const filler = await Client.connect({ host: '127.0.0.1', port: proxy.port });
    for (let i = 0; i < backlog; i++) {
      await filler.use(TUBES[i % TUBES.length] as string);
      await filler.put(`backlog-${i}`, { delaySecs: 3600 });
    }
    await filler.close();
    const counter = { cycles: 0 };
    for (let w = 0; w < workers; w++) load.push(worker(proxy.port, `bw-${w}`, counter, () => stop));
    // Warm up, then the window before.
    await new Promise((r) => setTimeout(r, 1000));
    let c0 = counter.cycles;
    let t0 = performance.now();
    await new Promise((r) => setTimeout(r, BEFORE_MS));
    const before = ((counter.cycles - c0) * 1000) / (performance.now() - t0);
    const file = path.join(dir, 'topology.json');
    writeFileSync(file, JSON.stringify({ nodes: entries }));
    await proxy.reload(parseTopology({ nodes: entries }));
    c0 = counter.cycles;
    t0 = performance.now();
    const pids = nodes.map((n) => n.child.pid as number);
    const nodesCpu0 = totalCpuSeconds(pids);
    const migrate = spawn(
      process.execPath,
      ['-r', EXIT_CPU, CLI, 'migrate', '--topology', file, '--json', '--wait', '5'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    migrate.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    migrate.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [status] = (await once(migrate, 'close')) as [number | null];
    const seconds = (performance.now() - t0) / 1000;
    const during = (counter.cycles - c0) / seconds;
    const nodesCpu = totalCpuSeconds(pids) - nodesCpu0;
    if (status !== 0) throw new Error(`migrate exited ${status}: ${out.slice(-500)}${err.slice(-500)}`);
    const moved = (out.match(/"event":"moved"/g) ?? []).length;
    const migrateCpuUs = Number(/exit-cpu-us (\d+)/.exec(err)?.[1] ?? Number.NaN);
    return {
      backlog,
      moved,
      migrateSeconds: seconds,
      movedPerSecond: moved / seconds,
      cyclesPerSecondBefore: before,
      cyclesPerSecondDuring: during,
      kept: during / before,
      migrateCpuUsPerJob: migrateCpuUs / moved,
      nodesCpuUsPerJob: (nodesCpu * 1e6) / moved,
    };
  } finally {
    stop = true;
    await Promise.allSettled(load);
    await proxy?.close();
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => (n.child.exitCode === null ? once(n.child, 'exit') : undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function describeFigures(f: MigrationFigures): string {
  return (
    `migration: ${f.moved} of ${f.backlog} backlog jobs moved in ${f.migrateSeconds.toFixed(1)} s ` +
    `(${f.movedPerSecond.toFixed(0)} jobs/s); client cycles/s ${f.cyclesPerSecondBefore.toFixed(0)} before, ` +
    `${f.cyclesPerSecondDuring.toFixed(0)} during (${(100 * f.kept).toFixed(0)} % kept; goal ≥ 70 %); CPU per job ` +
    `moved: migrate ${f.migrateCpuUsPerJob.toFixed(0)} µs, nodes ${f.nodesCpuUsPerJob.toFixed(0)} µs (client load included)`
  );
}

if (require.main === module) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  benchMigration(arg('--backlog', 20_000), arg('--workers', 8)).then(
    (f) => process.stdout.write(`${describeFigures(f)}\n${JSON.stringify(f)}\n`),
    (err: Error) => {
      process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    },
  );
}
