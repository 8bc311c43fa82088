/**
 * Engine: seeded model-based test. Long random sequences of every operation (sessions coming and
 * going, long and short watch lists, pauses, delays, TTRs, a journal that sometimes fails), with
 * time moved the way the server moves it (a tick at every deadline). After every step all counts
 * and structures are recomputed from scratch (checkEngine), and every reservation is checked
 * against a scan of the session's tubes: the best (pri, id) job, DEADLINE_SOON only when due,
 * TIMED_OUT only at the timeout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEADLINE_SOON_MARGIN_MS } from '../../src/engine/constants';
import { NO_JOB } from '../../src/engine/job-table';
import { JobState } from '../../src/engine/journal';
import type { Session, WaitOutcome } from '../../src/engine/session';
import { body, Harness, prng, RecordingJournal } from '../support/engine-fixture';

const PRIS = [0, 1, 1023, 1024, 5000, 4294967295];
const STEPS = 1500;

/** How the random operations are drawn. */
interface Profile {
  name: string;
  tubes: readonly string[];
  /** Delays for put and release (ms); repeated values make jobs become ready together. */
  delaysMs: readonly number[];
  /** Timeouts for reserve (null = plain reserve). */
  timeoutsMs: readonly (number | null)[];
  /** Runs seeds 1..seeds. */
  seeds: number;
  /** TTRs for put (ms). */
  ttrsMs: readonly number[];
  /** Clock moves; a coarse grid makes many deadlines fall in the same millisecond. */
  advancesMs: readonly number[];
  /** New sessions watch every tube (more sessions contend for the same jobs). */
  watchAllOnOpen: boolean;
  /** Relative weight of each operation. */
  weights: Readonly<Record<Op, number>>;
}

const OPS = [
  'open',
  'close',
  'use',
  'watch',
  'ignore',
  'put',
  'reserve',
  'reserve-job',
  'delete',
  'release',
  'bury',
  'touch',
  'kick',
  'kick-job',
  'pause',
  'unreserve',
  'cancel',
  'advance',
] as const;
type Op = (typeof OPS)[number];

function pickOp(profile: Profile, r: number): Op {
  let total = 0;
  for (const op of OPS) total += profile.weights[op];
  let at = r * total;
  for (const op of OPS) {
    at -= profile.weights[op];
    if (at < 0) return op;
  }
  return 'advance';
}

const PROFILES: readonly Profile[] = [
  {
    // Many tubes: long watch lists (the tube heap), tubes coming and going.
    name: 'wide',
    seeds: 12,
    tubes: ['default', 'a', 'b', 'c', ...Array.from({ length: 10 }, (_, i) => `t${i}`)],
    delaysMs: [0, 0, 0, 1, 700, 1500, 2999, 4000],
    timeoutsMs: [null, 0, 0, 1, 1000, 2500],
    ttrsMs: [0, 999, 1000, 1001, 2500, 6000],
    advancesMs: [0, 1, 10, 100, 500, 999, 1000, 1001, 1500],
    watchAllOnOpen: false,
    weights: {
      open: 4,
      close: 3,
      use: 5,
      watch: 8,
      ignore: 5,
      put: 17,
      reserve: 13,
      'reserve-job': 3,
      delete: 6,
      release: 6,
      bury: 4,
      touch: 3,
      kick: 3,
      'kick-job': 2,
      pause: 3,
      unreserve: 2,
      cancel: 2,
      advance: 11,
    },
  },
  {
    // Few tubes, many waiters, coarse delays: batches of jobs ready at once, contended.
    name: 'narrow',
    seeds: 40,
    tubes: ['default', 'a'],
    delaysMs: [0, 1000, 1000],
    timeoutsMs: [null, null, null, 0, 2000],
    ttrsMs: [1000, 2000, 3000],
    advancesMs: [500, 1000],
    watchAllOnOpen: true,
    weights: {
      open: 6,
      close: 4,
      use: 6,
      watch: 12,
      ignore: 2,
      put: 14,
      reserve: 25,
      'reserve-job': 1,
      delete: 5,
      release: 12,
      bury: 1,
      touch: 1,
      kick: 2,
      'kick-job': 1,
      pause: 6,
      unreserve: 1,
      cancel: 1,
      advance: 8,
    },
  },
];

/** The best (pri, id) ready job (slot) among the session's unpaused watched tubes, by scanning. */
function scanBest(s: Session): number {
  let best = NO_JOB;
  for (const tube of s.watched) {
    const top = tube.paused ? NO_JOB : tube.ready.peek();
    if (top !== NO_JOB && (best === NO_JOB || s.jobs.readyLess(top, best))) best = top;
  }
  return best;
}

function deadlineSoon(s: Session, now: number): boolean {
  const soonest = s.reserved.peek();
  return soonest !== NO_JOB && now + DEADLINE_SOON_MARGIN_MS >= s.jobs.deadlineAtMs[soonest]!;
}

/** What reserve must answer right now (null: it waits). */
function expectedReserve(
  s: Session,
  now: number,
  timeoutMs: number | null,
  deadlineOnly: boolean,
): string | null {
  const anyReady = s.watched.some((t) => t.ready.size > 0); // pause ignored, as beanstalkd
  if (deadlineSoon(s, now) && (deadlineOnly || !anyReady)) return 'DEADLINE_SOON';
  const best = deadlineOnly ? NO_JOB : scanBest(s);
  if (best !== NO_JOB) return `RESERVED ${s.jobs.id[best]}`;
  return timeoutMs === 0 ? 'TIMED_OUT' : null;
}

function runModel(profile: Profile, seed: number): void {
  const tubes = profile.tubes;
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const journal = new RecordingJournal();
  const h = new Harness({ journal });
  const { engine, clock } = h;
  const problems: string[] = [];
  const timeoutAt = new Map<Session, number>();
  let cancelling: Session | null = null;
  let insertedJobs = 0;
  let timeoutsOfDeleted = 0;
  let step = 0;

  h.observe = (s: Session, outcome: WaitOutcome) => {
    const now = clock.nowMs();
    const where = `${profile.name} seed ${seed} step ${step} session ${s.id}`;
    if (outcome.type === 'reserved') {
      const better = scanBest(s);
      if (better !== NO_JOB && s.jobs.readyLess(better, outcome.job.slot))
        problems.push(`${where}: woke with job ${outcome.job.id} while ${s.jobs.id[better]} was better`);
      if (outcome.job.reservedBy !== s) problems.push(`${where}: woke with a job it does not hold`);
    } else if (outcome.type === 'DEADLINE_SOON') {
      if (!deadlineSoon(s, now)) problems.push(`${where}: DEADLINE_SOON too early`);
    } else if (s !== cancelling && now < (timeoutAt.get(s) ?? Number.POSITIVE_INFINITY)) {
      problems.push(`${where}: TIMED_OUT before the timeout`);
    }
  };

  /** The server's timer: tick at every deadline up to `target`, then at `target`. */
  const moveTo = (target: number): void => {
    for (let guard = 0; ; guard++) {
      assert.ok(
        guard < 10_000,
        `${profile.name} seed ${seed} step ${step}: tick does not clear due deadlines`,
      );
      const next = engine.nextDeadline();
      if (next > target) break;
      clock.set(Math.max(clock.nowMs(), next));
      engine.tick();
      h.check();
    }
    clock.set(target);
    engine.tick();
  };

  const openSessions = (): Session[] => h.sessions.filter((s) => !s.closed);
  const openSession = (): Session => {
    const s = h.open();
    if (profile.watchAllOnOpen) for (const name of tubes) engine.watch(s, name);
    return s;
  };
  let putsTried = 0;
  /** Any id up to a little past the last one handed out (burned and unknown ids included). */
  const someId = (): number => int(1, putsTried + 2);
  const anySession = (): Session => {
    const open = openSessions();
    return open.length > 0 ? pick(open) : openSession();
  };
  /** A session that can issue a command (the server does not read a waiting one). */
  const activeSession = (): Session => {
    const idle = openSessions().filter((s) => !s.waiting);
    return idle.length > 0 ? pick(idle) : openSession();
  };
  const ownedJob = (s: Session): number | undefined => {
    const held = s.reserved.values();
    return held.length > 0 && rand() < 0.8 ? s.jobs.id[pick(held)] : undefined;
  };

  for (step = 0; step < STEPS; step++) {
    journal.failing = rand() < 0.05;
    switch (pickOp(profile, rand())) {
      case 'open':
        if (openSessions().length < 10) openSession();
        break;
      case 'close':
        engine.closeSession(anySession());
        break;
      case 'use':
        engine.use(activeSession(), pick(tubes));
        break;
      case 'watch':
        engine.watch(activeSession(), pick(tubes));
        break;
      case 'ignore':
        engine.ignore(activeSession(), pick(tubes));
        break;
      case 'put': {
        const s = activeSession();
        const bodyOk = rand() > 0.03;
        putsTried++;
        const result = engine.put(
          s,
          pick(PRIS),
          pick(profile.delaysMs),
          pick(profile.ttrsMs),
          body('m'),
          bodyOk,
        );
        if (result.word === 'INSERTED') insertedJobs++;
        else assert.ok(!bodyOk || journal.failing, `unexpected ${result.word}`);
        break;
      }
      case 'reserve': {
        const s = activeSession();
        const timeoutMs = pick(profile.timeoutsMs);
        const deadlineOnly = rand() < 0.05;
        const expected = expectedReserve(s, clock.nowMs(), timeoutMs, deadlineOnly);
        const got = h.reserve(s, timeoutMs, deadlineOnly);
        assert.equal(got, expected, `${profile.name} seed ${seed} step ${step}: reserve`);
        if (got === null)
          timeoutAt.set(s, timeoutMs === null ? Number.POSITIVE_INFINITY : clock.nowMs() + timeoutMs);
        break;
      }
      case 'reserve-job':
        engine.reserveJob(activeSession(), someId());
        break;
      case 'delete': {
        const s = activeSession();
        const id = ownedJob(s) ?? someId();
        const timeouts = engine.peek(id)?.timeouts ?? 0;
        if (engine.delete(s, id) === 'DELETED') timeoutsOfDeleted += timeouts;
        break;
      }
      case 'release': {
        const s = activeSession();
        engine.release(s, ownedJob(s) ?? someId(), pick(PRIS), pick(profile.delaysMs));
        break;
      }
      case 'bury': {
        const s = activeSession();
        engine.bury(s, ownedJob(s) ?? someId(), pick(PRIS));
        break;
      }
      case 'touch': {
        const s = activeSession();
        engine.touch(s, ownedJob(s) ?? someId());
        break;
      }
      case 'kick':
        engine.kick(activeSession(), pick([0, 1, 2, 100]));
        break;
      case 'kick-job':
        engine.kickJob(someId());
        break;
      case 'pause':
        engine.pauseTube(pick(tubes), pick([0, 0, ...profile.advancesMs]));
        break;
      case 'unreserve': {
        const s = activeSession();
        engine.unreserve(s, ownedJob(s) ?? someId());
        break;
      }
      case 'cancel': {
        const waiting = openSessions().filter((s) => s.waiting);
        if (waiting.length > 0) {
          cancelling = pick(waiting);
          assert.equal(engine.cancelWait(cancelling), true);
          cancelling = null;
        }
        break;
      }
      case 'advance':
        moveTo(clock.nowMs() + pick(profile.advancesMs));
        break;
    }
    journal.failing = false;
    // The server's timer fires for anything already due.
    if (engine.nextDeadline() <= clock.nowMs()) engine.tick();
    h.check();

    const now = clock.nowMs();
    for (const job of engine.jobs.values()) {
      if (job.state === JobState.Reserved || job.state === JobState.Delayed)
        assert.ok(
          job.deadlineAtMs > now,
          `${profile.name} seed ${seed} step ${step}: job ${job.id} is overdue`,
        );
    }
    for (const tube of engine.tubes.values())
      assert.ok(
        !tube.paused || tube.unpauseAtMs > now,
        `${profile.name} seed ${seed} step ${step}: pause overdue`,
      );
    for (const s of openSessions()) {
      if (!s.waiting) continue;
      assert.ok(
        !deadlineSoon(s, now),
        `${profile.name} seed ${seed} step ${step}: a due DEADLINE_SOON was not sent`,
      );
      assert.ok(
        s.waitTimeoutAtMs > now,
        `${profile.name} seed ${seed} step ${step}: a due TIMED_OUT was not sent`,
      );
    }
    let timeouts = timeoutsOfDeleted;
    for (const job of engine.jobs.values()) timeouts += job.timeouts;
    assert.equal(
      engine.counts.jobTimeouts,
      timeouts,
      `${profile.name} seed ${seed} step ${step}: job-timeouts`,
    );
    assert.equal(engine.counts.totalJobs, insertedJobs);
    assert.deepEqual(problems, []);
  }
}

for (const profile of PROFILES)
  for (let seed = 1; seed <= profile.seeds; seed++)
    test(`model: ${profile.name} seed ${seed} — counts, structures and reservations stay right over ${STEPS} steps`, () => {
      runModel(profile, seed);
    });
