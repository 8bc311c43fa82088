/**
 * `npm run bench [-- --quick] [--rounds N] [--only id,id] [--targets beanstalkd,node,proxy,null]
 *                [--profile DIR] [--node-generator] [--no-write]`   (or `-- --render`: redo the tables
 *                from bench/results/latest.json)
 *
 * Every scenario runs against Debian's beanstalkd, `stalkd node`, `stalkd proxy` in front of three
 * nodes and (where it applies) the generator's do-nothing server, each started fresh. Targets
 * alternate within a round (the order rotates every round) so slow drift on a shared machine hits
 * all of them alike; results are medians over the rounds. Writes bench/results/latest.{json,md}
 * (quick runs: bench/results/tmp/quick.{json,md}, not committed) and updates the table in
 * bench/README.md after a full run of every scenario.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_SOURCE_DIR, prepareGenerator, TMP_DIR } from './loadgen';
import { describeMachine } from './machine';
import { type Measurement, measure } from './measure';
import { benchMigration, describeFigures, type MigrationFigures } from './migration';
import { type BenchReport, markdown, summarize } from './report';
import { SCENARIOS } from './scenarios';
import { killAll, snapshotBuild, TARGET_NAMES, type TargetName } from './targets';

interface Options {
  quick: boolean;
  rounds: number;
  only?: string[];
  targets: TargetName[];
  profileDir?: string;
  nodeGenerator: boolean;
  write: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    rounds: 0,
    targets: [...TARGET_NAMES],
    nodeGenerator: false,
    write: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--targets') o.targets = value().split(',') as TargetName[];
    else if (a === '--profile') o.profileDir = path.resolve(value());
    else if (a === '--node-generator') o.nodeGenerator = true;
    else if (a === '--no-write') o.write = false;
    else throw new Error(`unknown flag ${a} (see the header of bench/run.ts)`);
  }
  if (o.rounds <= 0) o.rounds = o.quick ? 1 : 3;
  for (const t of o.targets) if (!TARGET_NAMES.includes(t)) throw new Error(`unknown target ${t}`);
  return o;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length ? by % items.length : 0;
  return [...items.slice(k), ...items.slice(0, k)];
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function describeRun(m: Measurement): string {
  if (m.skipped) return `skipped (${m.skipped})`;
  if (m.error) return `FAILED: ${m.error.slice(0, 400)}`;
  const x = m.metrics ?? {};
  const parts = Object.entries(x)
    .filter(([k]) =>
      [
        'rate',
        'rssMiB',
        'seconds',
        'cycleP99Us',
        'httpSeconds',
        'jobsLogged',
        'jobsRecovered',
        'lagP99Ms',
      ].includes(k),
    )
    .map(([k, v]) => `${k}=${v < 10 ? v.toFixed(4) : v.toFixed(0)}`);
  const cpu = m.serverCpuSeconds !== undefined ? ` serverCpu=${m.serverCpuSeconds.toFixed(2)}s` : '';
  const gen = m.generatorCpuSeconds !== undefined ? ` genCpu=${m.generatorCpuSeconds.toFixed(2)}s` : '';
  const eff =
    x.opsPerServerCpuSecond !== undefined ? ` ops/serverCpu-s=${x.opsPerServerCpuSecond.toFixed(0)}` : '';
  return parts.join(' ') + cpu + gen + eff;
}

/** Replaces the block between the README's markers with the latest table. */
function updateReadme(table: string): void {
  const readme = path.join(BENCH_SOURCE_DIR, 'README.md');
  if (!existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- bench:latest:begin -->';
  const end = '<!-- bench:latest:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return;
  writeFileSync(readme, `${text.slice(0, i + begin.length)}\n${table}${text.slice(j)}`);
}

/** --render: rewrite latest.md and the README table from latest.json (after a report change). */
function render(): void {
  const outDir = path.join(BENCH_SOURCE_DIR, 'results');
  const report = JSON.parse(readFileSync(path.join(outDir, 'latest.json'), 'utf8')) as BenchReport;
  const table = markdown(report);
  writeFileSync(path.join(outDir, 'latest.md'), table);
  updateReadme(table);
  process.stdout.write(table);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--render') return render();
  const o = parseArgs(process.argv.slice(2));
  const gen = prepareGenerator(o.nodeGenerator);
  mkdirSync(TMP_DIR, { recursive: true });
  const build = path.join(TMP_DIR, `build-${process.pid}`);
  snapshotBuild(build);
  process.on('exit', () => rmSync(build, { recursive: true, force: true }));
  const machine = describeMachine(TMP_DIR);
  const scenarios = SCENARIOS.filter((s) => !o.only || o.only.includes(s.id));
  const nodeArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [];
  const startedAt = new Date().toISOString();
  log(
    `bench: ${o.quick ? 'quick' : 'full'}, ${o.rounds} round(s), generator: ${gen.kind}, ${machine.cpuModel} × ${machine.cores}`,
  );
  const measurements: Measurement[] = [];
  for (let round = 0; round < o.rounds; round++) {
    for (const [si, sc] of scenarios.entries()) {
      const targets = rotate(
        sc.targets.filter((t) => o.targets.includes(t)),
        round + si,
      );
      for (const t of targets) {
        const started = performance.now();
        const m = await measure(sc, t, round, { gen, quick: o.quick, nodeArgs });
        measurements.push(m);
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        log(`  [${round + 1}/${o.rounds}] ${sc.id} ${t}: ${describeRun(m)} (${secs}s)`);
      }
    }
  }
  // Issue 15: a migration under client load (bench/migration.ts), after the matrix.
  let migration: MigrationFigures | undefined;
  if (!o.only || o.only.includes('migration')) {
    migration = await benchMigration(o.quick ? 4000 : 20_000);
    log(`  ${describeFigures(migration)}`);
  }
  machine.loadAverageAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const report: BenchReport = {
    mode: o.quick ? 'quick' : 'full',
    rounds: o.rounds,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    generator: {
      kind: gen.kind,
      note:
        gen.kind === 'c'
          ? 'bench/loadgen.c (cc -O2, one epoll thread)'
          : 'Node fallback (bench/loadgen-node.ts): no C compiler, so the ceiling column matters',
    },
    scenarios: summarize(scenarios, measurements),
    measurements,
  };
  const table = markdown(report);
  process.stdout.write(`\n${table}`);
  if (!o.write) return;
  // Quick runs stay out of git (results/tmp is ignored); full runs are the committed record.
  const outDir = o.quick ? TMP_DIR : path.join(BENCH_SOURCE_DIR, 'results');
  mkdirSync(outDir, { recursive: true });
  const name = o.quick ? 'quick' : 'latest';
  writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(outDir, `${name}.md`), table);
  if (migration)
    writeFileSync(path.join(outDir, 'migration.json'), `${JSON.stringify(migration, null, 2)}\n`);
  if (!o.quick && !o.only) updateReadme(table);
  log(`bench: wrote ${path.relative(process.cwd(), path.join(outDir, name))}.json and .md`);
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
main().then(
  () => killAll(),
  (err: unknown) => {
    killAll();
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
