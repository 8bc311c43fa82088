/**
 * The crash harness (issue 13), shared by the e2e crash tests and bench/crash-soak.ts. Rounds on one
 * target (crash-targets.ts: a node in some fsync mode, a proxy with three nodes, or beanstalkd):
 *
 *   probe → traffic from 8 connections (crash-traffic.ts) → SIGKILL of a node at a random moment
 *   0.2–1.5 s in, with puts in flight → restart on the same directory → probe → …
 *
 * One round in four (seeded) first sends SIGTERM — the node drains (puts answered DRAINING) and
 * starts its clean stop — and the SIGKILL follows 0–30 ms later, so a stop is interrupted at random
 * points too (or completes: a clean exit is then fine).
 *
 * The probe (crash-probe.ts) puts one job and reads every job back; the ledger (crash-ledger.ts)
 * checks the traffic's replies as they come and the jobs after every restart. Violations are
 * collected, not thrown: the summary says how many rounds failed and why, with the seed. Every
 * `series` kills the target starts over on fresh directories (the traffic grows the queue by
 * 1,000–2,000 jobs a round and every probe reads them all back). Kill moments, victims and every
 * connection's choices come from the seed; the interleaving of replies does not, so a seed
 * reproduces a run's shape, not its exact history.
 */
import assert from 'node:assert/strict';
import { connect } from '../../src/client';
import { CrashLedger, emptyTotals, type Violation } from './crash-ledger';
import { probeAfterRestart } from './crash-probe';
import type { CrashTarget } from './crash-targets';
import { CrashTraffic } from './crash-traffic';
import { type Rand, seededRand } from './fuzz';

export interface CrashRunOptions {
  kills: number;
  seed: number;
  /** Fresh directories every this many kills (default: never). */
  series?: number;
  connections?: number;
  /** The kill comes this long after the traffic started (uniform), once a put is in flight. */
  killAfterMs?: readonly [number, number];
  /** One round in this many is a SIGTERM interrupted by the SIGKILL (0: never; default 4). */
  stopFirstEvery?: number;
  /** One line per restart. */
  log?: (line: string) => void;
}

export interface CrashSummary {
  target: string;
  seed: number;
  kills: number;
  /** Kills that interrupted a SIGTERM (or came after the clean exit it led to). */
  stopsInterrupted: number;
  failedRounds: number[];
  violations: Violation[];
  totals: CrashLedger['totals'];
  /** Puts sent and not answered at each kill (all connections). */
  putsInFlightAtKill: number[];
  peeked: number;
  jobsAtEnd: number;
  durationMs: number;
}

/** The summary in a few lines (the first `maxViolations` violations listed), for logs and failures. */
export function formatSummary(s: CrashSummary, maxViolations = 20): string {
  const t = s.totals;
  const inFlight = s.putsInFlightAtKill;
  const avg = inFlight.length ? (inFlight.reduce((a, b) => a + b, 0) / inFlight.length).toFixed(1) : '0';
  const lines = [
    `${s.target}, seed ${s.seed}: ${s.kills} kills (${s.stopsInterrupted} during a stop) in ` +
      `${(s.durationMs / 1000).toFixed(1)} s, ${s.failedRounds.length} rounds failed; ${t.puts} puts ` +
      `(${t.inserted} INSERTED, ${t.lostUnacknowledged} unanswered and gone), ${t.changes} changes ` +
      `acknowledged (${t.deleted} DELETED), ${t.refusedAfterKill} refused after a kill, ${t.sightings} RESERVED, ${s.peeked} ids peeked, ` +
      `${s.jobsAtEnd} jobs at the end; puts in flight at a kill: ${avg} on average, ` +
      `${Math.min(...inFlight)}–${Math.max(...inFlight)}`,
  ];
  for (const v of s.violations.slice(0, maxViolations)) lines.push(`  round ${v.round}: ${v.text}`);
  if (s.violations.length > maxViolations) lines.push(`  … ${s.violations.length - maxViolations} more`);
  return lines.join('\n');
}

interface KillOutcome {
  putsInFlight: number;
  stopFirst: boolean;
}

/** One round's traffic until the victim is killed (after a SIGTERM when stopFirst). */
async function trafficUntilKill(
  target: CrashTarget,
  ledger: CrashLedger,
  traffic: CrashTraffic,
  victim: number,
  killAtMs: number,
  stopFirst: boolean,
  choose: Rand,
): Promise<KillOutcome> {
  let putsInFlight = 0;
  let struck = false;
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<Awaited<ReturnType<CrashTarget['kill']>>>((resolve) => {
    const kill = (): void => resolve(target.kill(victim));
    const strike = (): void => {
      struck = true;
      ledger.nodeStruck(victim);
      putsInFlight = traffic.putsInFlight;
      if (!stopFirst) {
        kill();
        return;
      }
      ledger.nodeStopping(victim);
      target.terminate(victim);
      setTimeout(kill, choose(31));
    };
    timer = setTimeout(() => (traffic.putsInFlight > 0 ? strike() : traffic.onNextPuts(strike)), killAtMs);
  });
  // The connections die with the node (or are closed by its stop), maybe before its exit is reported.
  const first = await Promise.race([killed, traffic.ended().then(() => 'ended' as const)]);
  if (first === 'ended' && !struck) {
    clearTimeout(timer);
    throw new Error(`round ${ledger.round}: every connection ended before the kill`);
  }
  const exit = await killed;
  const expected = exit.signal === 'SIGKILL' || (stopFirst && (exit.code === 0 || exit.signal === 'SIGTERM'));
  if (!expected) throw new Error(`round ${ledger.round}: the node died on its own: ${exit.stderr}`);
  if (target.survivesKill) await traffic.abort();
  else if (target.nodes === 1) await traffic.ended();
  else await traffic.stop();
  await traffic.close();
  ledger.nodeKilled(victim);
  ledger.connectionsClosed();
  return { putsInFlight, stopFirst };
}

/** Runs `kills` rounds on target (started here, stopped cleanly at the end); rounds from `firstRound`. */
async function runSeries(
  target: CrashTarget,
  options: CrashRunOptions,
  seed: number,
  firstRound: number,
  kills: number,
  into: CrashSummary,
): Promise<void> {
  const [killFromMs, killToMs] = options.killAfterMs ?? [200, 1500];
  const stopFirstEvery = options.stopFirstEvery ?? 4;
  const unlogged = target.unloggedReleases ?? false;
  const ledger = new CrashLedger(target.codec, (t) => target.nodeOfTube(t), target.nodes, unlogged);
  const choose = seededRand(seed);
  let victim = 0;
  let lastKill = '';
  let reported = 0;
  try {
    await target.start();
    // Round r is the r-th life of the target: the probe after restart r, then its traffic.
    for (let life = 0; ; life++) {
      ledger.round = firstRound + life;
      const probeAtMs = Date.now();
      const c = await connect({ host: '127.0.0.1', port: target.port() });
      const probe = await probeAfterRestart(c, ledger, target.nodes, target.probeTube(victim)).finally(() =>
        c.close(),
      );
      into.peeked += probe.peeked;
      into.jobsAtEnd = probe.jobs;
      if (life > 0) {
        // New violations: in the traffic before the kill, or found by this probe.
        const fresh = ledger.violations.length - reported;
        reported = ledger.violations.length;
        options.log?.(
          `restart ${ledger.round}: ${lastKill}; probe id ${probe.probeId}, ${probe.jobs} jobs read back ` +
            `in ${Date.now() - probeAtMs} ms${fresh > 0 ? ` — ${fresh} violations` : ''}`,
        );
      }
      if (life === kills) break;
      victim = choose(target.nodes);
      const killAtMs = killFromMs + choose(killToMs - killFromMs + 1);
      const stopFirst = stopFirstEvery > 0 && choose(stopFirstEvery) === 0;
      const traffic = new CrashTraffic(ledger, (seed ^ Math.imul(life + 1, 0x9e3779b1)) >>> 0);
      await traffic.start(target.port(), options.connections ?? 8);
      const kill = await trafficUntilKill(target, ledger, traffic, victim, killAtMs, stopFirst, choose);
      into.putsInFlightAtKill.push(kill.putsInFlight);
      if (stopFirst) into.stopsInterrupted++;
      const restartAtMs = Date.now();
      await target.restart(victim);
      await target.settle();
      lastKill =
        `node ${victim} ${stopFirst ? 'sent SIGTERM, then SIGKILL' : 'killed'} ${killAtMs} ms into the traffic, ` +
        `${kill.putsInFlight} puts in flight, back in ${Date.now() - restartAtMs} ms`;
    }
    for (const problem of await target.stop()) ledger.violation(problem);
  } finally {
    await target.dispose();
  }
  into.kills += kills;
  into.violations.push(...ledger.violations);
  into.failedRounds.push(...[...ledger.failedRounds].sort((a, b) => a - b));
  for (const key of Object.keys(into.totals) as (keyof CrashSummary['totals'])[])
    into.totals[key] += ledger.totals[key];
}

/** Runs `options.kills` rounds on targets from makeTarget (a fresh one every `series` kills). */
export async function runCrash(
  makeTarget: () => CrashTarget,
  options: CrashRunOptions,
): Promise<CrashSummary> {
  const startedAt = Date.now();
  const series = options.series ?? options.kills;
  let summary: CrashSummary | undefined;
  for (let done = 0, n = 0; done < options.kills; done += series, n++) {
    const target = makeTarget();
    summary ??= {
      target: target.label,
      seed: options.seed,
      kills: 0,
      stopsInterrupted: 0,
      failedRounds: [],
      violations: [],
      totals: emptyTotals(),
      putsInFlightAtKill: [],
      peeked: 0,
      jobsAtEnd: 0,
      durationMs: 0,
    };
    const seed = (options.seed + n * 0x632be5ab) >>> 0;
    await runSeries(target, options, seed, done + n, Math.min(series, options.kills - done), summary);
  }
  if (!summary) throw new Error('no kills asked for');
  summary.durationMs = Date.now() - startedAt;
  return summary;
}

/** STALKD_CRASH_SEED when set (to replay a failure), else a fresh one (printed with the result). */
export function crashSeed(): number {
  const fromEnv = process.env.STALKD_CRASH_SEED;
  return fromEnv ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
}

/**
 * The crash tests' run: `kills` rounds on targets from makeTarget (seed from crashSeed; every
 * restart printed with STALKD_CRASH_VERBOSE=1), the summary printed, and no violation allowed.
 * The traffic must have done real work: 20 acknowledged puts and 10 RESERVED a round at least.
 */
export async function expectNoViolations(
  makeTarget: () => CrashTarget,
  kills: number,
  series = kills,
): Promise<CrashSummary> {
  const summary = await runCrash(makeTarget, {
    kills,
    series,
    seed: crashSeed(),
    ...(process.env.STALKD_CRASH_VERBOSE ? { log: (line: string) => console.log(line) } : {}),
  });
  console.log(formatSummary(summary));
  assert.deepEqual(summary.violations, [], formatSummary(summary));
  assert.equal(summary.kills, kills);
  assert.ok(summary.totals.inserted > kills * 20, `only ${summary.totals.inserted} puts were acknowledged`);
  assert.ok(summary.totals.sightings > kills * 10, `only ${summary.totals.sightings} jobs were reserved`);
  return summary;
}
