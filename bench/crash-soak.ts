/**
 * The long version of the crash tests (issue 13; test/support/crash-harness.ts): the mixed traffic of
 * 8 connections, a SIGKILL at a random moment 0.2–1.5 s in with puts in flight, a restart on the same
 * directory and the ledger's checks — KILLS times. Every SERIES kills the target starts over on a
 * fresh directory (the traffic grows the queue by ~1,700 jobs a round, and every probe reads all of
 * them back). Exits 1 when any round failed.
 *
 *   node dist/bench/crash-soak.js [--kills 200] [--mode f0|f0-small-segments|f50|F|cluster|beanstalkd]
 *                                 [--series 25] [--seed N] [--verbose]
 *
 * Modes: `stalkd node -b DIR -f 0`, the same with `-s 65536` (a segment rotation every few hundred
 * puts, most of each segment the live jobs' reserved room), `-f 50`, `-F`; `cluster` = `stalkd
 * proxy` + 3 nodes with -f 0, one node killed per round; `beanstalkd` = Debian's beanstalkd -b DIR
 * -f 0 (the reference). The directories are made under $TMPDIR: point it at the disk to test.
 */
import { parseArgs } from 'node:util';
import { formatSummary, runCrash } from '../test/support/crash-harness';
import { beanstalkdTarget, type CrashTarget, clusterTarget, nodeTarget } from '../test/support/crash-targets';

const MODES: Record<string, () => CrashTarget> = {
  f0: () => nodeTarget(['-f', '0']),
  // 64 KiB segments: a rotation every few hundred puts, each with its preallocated next segment.
  'f0-small-segments': () => nodeTarget(['-f', '0', '-s', '65536']),
  f50: () => nodeTarget(['-f', '50']),
  F: () => nodeTarget(['-F']),
  cluster: () => clusterTarget(['-f', '0']),
  beanstalkd: () => beanstalkdTarget(['-f', '0']),
};

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '200' },
    mode: { type: 'string', default: 'f0' },
    series: { type: 'string', default: '25' },
    seed: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const makeTarget = MODES[values.mode];
  if (!makeTarget) throw new Error(`--mode: one of ${Object.keys(MODES).join(', ')}`);
  const seed = values.seed === undefined ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(values.seed);
  const summary = await runCrash(makeTarget, {
    kills: Number(values.kills),
    series: Number(values.series),
    seed,
    ...(values.verbose ? { log: (line: string) => console.log(`  ${line}`) } : {}),
  });
  const failed = summary.failedRounds.length;
  console.log(`${failed === 0 ? 'OK' : 'FAILED'}: ${formatSummary(summary, 40)}`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((err: Error) => {
  console.error(`FAILED: ${err.stack ?? err.message}`);
  process.exit(1);
});
