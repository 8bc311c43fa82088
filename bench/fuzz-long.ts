/**
 * The long version of the fuzz tests (test/fuzz-node.test.ts, test/fuzz-proxy.test.ts): fuzz
 * connections for a given time against a node process and/or a proxy in front of three node
 * processes, checking every verdict and serving a probe client every `--probe-every` connections.
 *
 * The run goes in rounds of --round-secs. The fuzz streams store jobs they never delete (thousands
 * a second), so after each round the fuzzing stops, a janitor deletes every job, and each process's
 * RSS is read at rest. V8 keeps the heap it grew to, so RSS at rest climbs to a plateau; it must
 * then stay flat: the highest at-rest sample of the last fifth of the rounds may exceed the highest
 * of the second fifth by at most --max-rss-growth-mib. Exits 1 on a desynchronised connection, a
 * crash, a failed probe or RSS that keeps growing.
 *
 *   node dist/bench/fuzz-long.js [--target node|proxy|both] [--minutes 10] [--connections N]
 *        [--seed S] [--concurrency 4] [--commands 200] [--probe-every 10] [--round-secs 30]
 *        [--max-rss-growth-mib 64]
 *
 * Environment: STALKD_FUZZ_SEED, STALKD_FUZZ_CONNECTIONS, STALKD_FUZZ_MINUTES (flags win). A failure
 * names the connection's seed: replay it alone with fuzzConnection(port, seededRand(seed), n, 200).
 */
import { Client } from '../src/client';
import { runFuzz } from '../test/support/fuzz-run';
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
const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

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

/**
 * Deletes every ready, delayed and buried job on `port`; returns how many. Peeks rather than
 * reserves (reserving jobs with the streams' 1 s TTRs would answer DEADLINE_SOON, and paused tubes
 * would answer nothing); each delete travels with the next peek. Bounded per tube and kind.
 */
async function deleteAllJobs(port: number): Promise<number> {
  const c = await Client.connect({ host: '127.0.0.1', port, timeoutMs: 5000 });
  let deleted = 0;
  try {
    for (const tube of await c.listTubes()) {
      await c.use(tube);
      for (const peek of [() => c.peekReady(), () => c.peekDelayed(), () => c.peekBuried()]) {
        let job = await peek();
        for (let i = 0; job && i < 1_000_000; i++) {
          const [result, next] = await Promise.all([c.delete(job.id), peek()]);
          if (result === 'DELETED') deleted++;
          job = next;
        }
      }
    }
  } finally {
    await c.close();
  }
  return deleted;
}

interface Outcome {
  target: Target;
  connections: number;
  verdicts: Record<string, number>;
  probes: number;
  jobsDeleted: number;
  error: string | null;
  /** RSS at rest after each round, per process label. */
  rest: Map<string, number[]>;
}

async function fuzzTarget(target: Target, seed: number, untilMs: number): Promise<Outcome> {
  const out: Outcome = {
    target,
    connections: 0,
    verdicts: {},
    probes: 0,
    jobsDeleted: 0,
    error: null,
    rest: new Map(target.processes.map((p) => [p.label, [p.process.rss()]])),
  };
  const limit = numberOption('connections', 'STALKD_FUZZ_CONNECTIONS', 0) || Number.POSITIVE_INFINITY;
  const roundMs = numberOption('round-secs', null, 30) * 1000;
  try {
    for (let round = 0; Date.now() < untilMs && out.connections < limit; round++) {
      const result = await runFuzz({
        port: target.port,
        seed: seed + round * 1_000_003,
        ...(Number.isFinite(limit) ? { connections: limit - out.connections } : {}),
        untilMs: Math.min(untilMs, Date.now() + roundMs),
        concurrency: numberOption('concurrency', null, 4),
        commandsPerConnection: numberOption('commands', null, 200),
        probeEvery: numberOption('probe-every', null, 10),
      });
      out.connections += result.connections;
      out.probes += result.probes;
      for (const [k, v] of Object.entries(result.verdicts)) out.verdicts[k] = (out.verdicts[k] ?? 0) + v;
      out.jobsDeleted += await deleteAllJobs(target.port);
      for (const p of target.processes) out.rest.get(p.label)?.push(p.process.rss());
      const left = Math.max(0, Math.round((untilMs - Date.now()) / 1000));
      console.log(
        `${target.name}: round ${round} done (${left} s left), ${out.connections} connections, RSS at rest ${target.processes.map((p) => mib(p.process.rss())).join(' / ')} MiB`,
      );
    }
  } catch (err) {
    out.error = (err as Error).message;
  }
  return out;
}

/** Highest at-rest sample of the second fifth and of the last fifth of the rounds. */
function plateau(samples: number[]): { warm: number; late: number } {
  const fifth = Math.max(1, Math.floor(samples.length / 5));
  return {
    warm: Math.max(...samples.slice(fifth, 2 * fifth)),
    late: Math.max(...samples.slice(-fifth)),
  };
}

function judge(o: Outcome, maxGrowthBytes: number, failures: string[]): void {
  console.log(
    `${o.target.name}: ${o.connections} connections ${JSON.stringify(o.verdicts)}, ${o.probes} probes served, ${o.jobsDeleted} fuzz jobs deleted between rounds`,
  );
  if (o.error) failures.push(`${o.target.name}: ${o.error}`);
  for (const p of o.target.processes) {
    const samples = o.rest.get(p.label) ?? [];
    const { warm, late } = plateau(samples);
    console.log(
      `  ${p.label} RSS MiB at rest: start ${mib(samples[0] ?? 0)}, second fifth ${mib(warm)}, last fifth ${mib(late)} (${samples.length - 1} rounds)`,
    );
    if (p.process.child.exitCode !== null || p.process.child.signalCode !== null)
      failures.push(`${p.label} exited: ${p.process.stderr().slice(-500)}`);
    else if (late - warm > maxGrowthBytes)
      failures.push(`${p.label} RSS not flat: ${mib(warm)} → ${mib(late)} MiB`);
  }
}

async function main(): Promise<void> {
  const which = option('target', null, 'both');
  const kinds: Array<'node' | 'proxy'> = which === 'both' ? ['node', 'proxy'] : [which as 'node' | 'proxy'];
  if (!kinds.every((k) => k === 'node' || k === 'proxy')) throw new Error('--target node|proxy|both');
  const minutes = numberOption('minutes', 'STALKD_FUZZ_MINUTES', 10);
  const seed = numberOption('seed', 'STALKD_FUZZ_SEED', Date.now() % 1_000_000_007);
  const maxGrowthBytes = numberOption('max-rss-growth-mib', null, 64) * MiB;
  console.log(`fuzz-long: ${kinds.join(' + ')}, ${minutes} min, seed ${seed}`);
  const targets = await Promise.all(kinds.map(startTarget));
  const untilMs = Date.now() + minutes * 60_000;
  const failures: string[] = [];
  try {
    const outcomes = await Promise.all(targets.map((t, i) => fuzzTarget(t, seed + i, untilMs)));
    for (const o of outcomes) judge(o, maxGrowthBytes, failures);
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
