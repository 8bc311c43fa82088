/**
 * The long version of the fuzz tests (test/fuzz-node.test.ts, test/fuzz-proxy.test.ts): fuzz
 * connections for a given time against a node process and/or a proxy in front of three node
 * processes, checking every verdict, serving a probe client every `--probe-every` connections and
 * sampling each process's RSS. The fuzz streams store jobs they never delete (tens of thousands a
 * minute), so a janitor deletes every job every --janitor-secs: what remains growing is the
 * server's own. Exits 1 on a desynchronised connection, a crash, a failed probe or RSS growth
 * beyond --max-rss-growth-mib.
 *
 *   node dist/bench/fuzz-long.js [--target node|proxy|both] [--minutes 10] [--connections N]
 *        [--seed S] [--concurrency 4] [--commands 200] [--probe-every 10] [--max-rss-growth-mib 128]
 *        [--janitor-secs 5]
 *
 * Environment: STALKD_FUZZ_SEED, STALKD_FUZZ_CONNECTIONS, STALKD_FUZZ_MINUTES (flags win). A failure
 * names the connection's seed: replay it alone with fuzzConnection(port, seededRand(seed), n, 200).
 */
import { Client } from '../src/client';
import { type FuzzRunResult, runFuzz } from '../test/support/fuzz-run';
import { type StalkdProcess, startNodeProcess, startProxyProcess } from '../test/support/processes';

function option(name: string, env: string | null, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1] ?? fallback;
  return (env ? process.env[env] : undefined) ?? fallback;
}

function numberOption(name: string, env: string | null, fallback: number): number {
  const value = Number(option(name, env, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: not a number`);
  return value;
}

const MiB = 1024 * 1024;

interface Target {
  name: string;
  port: number;
  processes: Array<{ label: string; process: StalkdProcess }>;
}

async function startTarget(kind: 'node' | 'proxy'): Promise<Target> {
  if (kind === 'node') {
    const node = await startNodeProcess(['-z', '1000']);
    return { name: 'node', port: node.port, processes: [{ label: 'node', process: node }] };
  }
  const nodes = await Promise.all([0, 1, 2].map(() => startNodeProcess(['-z', '1000'])));
  const proxy = await startProxyProcess(
    nodes.map((n) => n.port),
    ['-z', '1000'],
  );
  return {
    name: 'proxy',
    port: proxy.port,
    processes: [
      { label: 'proxy', process: proxy },
      ...nodes.map((n, i) => ({ label: `node-${i}`, process: n })),
    ],
  };
}

/** Deletes every ready and buried job on `port`; returns how many. Bounded per tube. */
async function deleteAllJobs(port: number): Promise<number> {
  const c = await Client.connect({ host: '127.0.0.1', port, timeoutMs: 5000 });
  let deleted = 0;
  try {
    for (const tube of await c.listTubes()) {
      await c.use(tube);
      await c.kick(1_000_000);
      await c.watch(tube);
      for (const other of await c.listTubesWatched()) if (other !== tube) await c.ignore(other);
      for (let round = 0; round < 1000; round++) {
        // The streams pause tubes (for up to a second): unpause before each round.
        await c.pauseTube(tube, 0);
        const jobs = await Promise.all(Array.from({ length: 100 }, () => c.reserveWithTimeout(0)));
        const ids = jobs.flatMap((j) => (typeof j === 'object' ? [j.id] : []));
        await Promise.all(ids.map((id) => c.delete(id)));
        deleted += ids.length;
        if (ids.length < 100) break;
      }
    }
  } finally {
    await c.close();
  }
  return deleted;
}

/** Runs deleteAllJobs every `everyMs` until `untilMs`; returns the total. */
async function janitor(port: number, everyMs: number, untilMs: number): Promise<number> {
  let total = 0;
  while (Date.now() + everyMs < untilMs) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    total += await deleteAllJobs(port);
  }
  return total;
}

interface Outcome {
  target: Target;
  result: FuzzRunResult | null;
  error: string | null;
  rss: Map<string, { start: number; max: number; end: number }>;
  jobsDeleted: number;
}

async function fuzzTarget(target: Target, seed: number, untilMs: number): Promise<Outcome> {
  const rss = new Map(target.processes.map((p) => [p.label, { start: p.process.rss(), max: 0, end: 0 }]));
  const sample = (): void => {
    for (const p of target.processes) {
      const r = rss.get(p.label);
      if (r && p.process.child.exitCode === null) r.max = Math.max(r.max, p.process.rss());
    }
  };
  const startedMs = Date.now();
  let lastReportMs = startedMs;
  const connections = numberOption('connections', 'STALKD_FUZZ_CONNECTIONS', 0);
  const janitorMs = numberOption('janitor-secs', null, 5) * 1000;
  const cleaning = janitorMs > 0 ? janitor(target.port, janitorMs, untilMs) : Promise.resolve(0);
  try {
    const result = await runFuzz({
      port: target.port,
      seed,
      ...(connections > 0 ? { connections } : {}),
      untilMs,
      concurrency: numberOption('concurrency', null, 4),
      commandsPerConnection: numberOption('commands', null, 200),
      probeEvery: numberOption('probe-every', null, 10),
      onConnection: (n) => {
        if (n % 20 === 0) sample();
        if (Date.now() - lastReportMs > 30_000) {
          lastReportMs = Date.now();
          const s = Math.round((lastReportMs - startedMs) / 1000);
          console.log(`${target.name}: ${s} s, ${n} connections`);
        }
      },
    });
    return { target, result, error: null, rss, jobsDeleted: await cleaning };
  } catch (err) {
    return {
      target,
      result: null,
      error: (err as Error).message,
      rss,
      jobsDeleted: await cleaning.catch(() => 0),
    };
  } finally {
    sample();
    for (const p of target.processes) {
      const r = rss.get(p.label);
      if (r && p.process.child.exitCode === null) r.end = p.process.rss();
    }
  }
}

async function main(): Promise<void> {
  const which = option('target', null, 'both');
  const kinds: Array<'node' | 'proxy'> = which === 'both' ? ['node', 'proxy'] : [which as 'node' | 'proxy'];
  if (!kinds.every((k) => k === 'node' || k === 'proxy')) throw new Error('--target node|proxy|both');
  const minutes = numberOption('minutes', 'STALKD_FUZZ_MINUTES', 10);
  const seed = numberOption('seed', 'STALKD_FUZZ_SEED', Date.now() % 1_000_000_007);
  const maxGrowthBytes = numberOption('max-rss-growth-mib', null, 128) * MiB;
  console.log(`fuzz-long: ${kinds.join(' + ')}, ${minutes} min, seed ${seed}`);
  const targets = await Promise.all(kinds.map(startTarget));
  const untilMs = Date.now() + minutes * 60_000;
  const failures: string[] = [];
  try {
    const outcomes = await Promise.all(targets.map((t, i) => fuzzTarget(t, seed + i, untilMs)));
    for (const o of outcomes) {
      const r = o.result;
      console.log(
        `${o.target.name}: ${r ? `${r.connections} connections ${JSON.stringify(r.verdicts)}, ${r.probes} probes served` : 'stopped'}, ${o.jobsDeleted} fuzz jobs deleted by the janitor`,
      );
      if (o.error) failures.push(`${o.target.name}: ${o.error}`);
      for (const p of o.target.processes) {
        const x = o.rss.get(p.label);
        if (!x) continue;
        console.log(
          `  ${p.label} RSS MiB: start ${(x.start / MiB).toFixed(1)}, max ${(x.max / MiB).toFixed(1)}, end ${(x.end / MiB).toFixed(1)}`,
        );
        if (p.process.child.exitCode !== null || p.process.child.signalCode !== null)
          failures.push(`${p.label} exited: ${p.process.stderr().slice(-500)}`);
        else if (x.max - x.start > maxGrowthBytes)
          failures.push(`${p.label} RSS grew by ${((x.max - x.start) / MiB).toFixed(1)} MiB`);
      }
    }
  } finally {
    for (const t of targets) for (const p of t.processes) await p.process.kill();
  }
  if (failures.length > 0) {
    console.log(`FAILED (seed ${seed}):`);
    for (const f of failures) console.log(`  ${f}`);
    process.exitCode = 1;
  } else console.log('OK');
}

main().catch((err: Error) => {
  console.error(`FAILED: ${err.stack ?? err.message}`);
  process.exit(1);
});
