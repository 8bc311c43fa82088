/**
 * Scrape cost of a node holding many tubes (issue 5: with 10 000 tubes one scrape stays under
 * ~100 ms and traffic does not stall while it runs).
 *
 *   npx tsc -p . && node dist/bench/scrape-metrics.js [tubes=10000] [scrapes=30]
 *
 * For each tube cap (the default 100, and "all tubes" for comparison) it starts `stalkd node` as
 * a child process, creates the tubes (one to five ready jobs each), then measures:
 *   - scrape: wall time of GET /metrics (sequential scrapes, no traffic), the node's CPU time per
 *     scrape (from /proc, so independent of other load on the machine) and the body size;
 *   - traffic: round trips of put + reserve + delete on one connection, one at a time, for the same
 *     duration without scrapes (baseline) and with scrapes back to back — the worst round trip
 *     during scrapes is the stall a client sees.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { MiniClient } from '../test/support/mini-client';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const TUBES = Number(process.argv[2] ?? 10_000);
const SCRAPES = Number(process.argv[3] ?? 30);

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

async function startNode(
  metricsPort: number,
  maxTubes: number,
): Promise<{ port: number; child: ChildProcess }> {
  const args = [CLI, 'node', '-V', '-l', '127.0.0.1', '-p', '0', '--metrics-port', String(metricsPort)];
  args.push('--metrics-max-tubes', String(maxTubes));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const bind = /^bind \S+:(\d+)$/m.exec(stderr);
      if (bind && /^metrics /m.test(stderr)) resolve(Number(bind[1]));
    });
    child.on('exit', (code) => reject(new Error(`node exited (${code}): ${stderr}`)));
  });
  return { port, child };
}

function scrape(port: number): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        res.on('end', () => resolve({ ms: performance.now() - t0, bytes }));
      })
      .on('error', reject);
  });
}

async function fillTubes(port: number): Promise<void> {
  const c = await MiniClient.connect(port);
  const batch: Promise<unknown>[] = [];
  for (let i = 0; i < TUBES; i++) {
    batch.push(c.send(`use bench-${i}`));
    for (let j = 0; j <= i % 5; j++) batch.push(c.put('x'));
    if (batch.length >= 2000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  c.close();
}

/** Round trips (ms) of put + reserve + delete until `until` resolves. */
async function roundTrips(c: MiniClient, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  until.then(() => {
    done = true;
  });
  const out: number[] = [];
  while (!done) {
    const t0 = performance.now();
    await c.put('probe');
    const r = await c.send('reserve-with-timeout 0');
    await c.send(`delete ${/^RESERVED (\d+)/.exec(r.line)?.[1]}`);
    out.push(performance.now() - t0);
  }
  return out;
}

/** utime + stime of a process, ms (Linux /proc; clock ticks are 100 Hz, so 10 ms resolution). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

const f = (ms: number) => ms.toFixed(2);

async function run(label: string, maxTubes: number): Promise<void> {
  const metricsPort = await freePort();
  const { port, child } = await startNode(metricsPort, maxTubes);
  try {
    await fillTubes(port);
    const probe = await MiniClient.connect(port);
    await probe.send('use bench-probe');
    await probe.send('watch bench-probe');
    await probe.send('ignore default');
    for (let i = 0; i < 5; i++) await scrape(metricsPort); // warm-up
    const scrapes: { ms: number; bytes: number }[] = [];
    const cpuBefore = cpuMs(child.pid as number);
    for (let i = 0; i < SCRAPES; i++) scrapes.push(await scrape(metricsPort));
    const cpuPerScrape = (cpuMs(child.pid as number) - cpuBefore) / SCRAPES;
    const scrapeWallMs = scrapes.reduce((sum, x) => sum + x.ms, 0);
    const baseline = await roundTrips(probe, new Promise((resolve) => setTimeout(resolve, scrapeWallMs)));
    const during = await roundTrips(
      probe,
      (async () => {
        for (let i = 0; i < SCRAPES; i++) await scrape(metricsPort);
      })(),
    );
    probe.close();
    const ms = scrapes.map((s) => s.ms);
    console.log(
      `${label}: scrape wall p50 ${f(quantile(ms, 0.5))} ms, max ${f(Math.max(...ms))} ms; ` +
        `node CPU ${f(cpuPerScrape)} ms/scrape; ${((scrapes[0]?.bytes ?? 0) / 1024).toFixed(0)} KiB\n` +
        `  put+reserve+delete round trip: without scrapes p50 ${f(quantile(baseline, 0.5))} ` +
        `p99 ${f(quantile(baseline, 0.99))} max ${f(Math.max(...baseline))} ms (${baseline.length}); ` +
        `during scrapes p50 ${f(quantile(during, 0.5))} p99 ${f(quantile(during, 0.99))} ` +
        `max ${f(Math.max(...during))} ms (${during.length})`,
    );
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${TUBES} tubes, ${SCRAPES} scrapes per case`);
  await run('cap 100 (default)', 100);
  await run(`no cap (all ${TUBES} tubes)`, 100_000);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
