/**
 * Moving the jobs of one tube from one node to another, used by `stalkd migrate` and the
 * dashboard's "move tube" action (docs/migration.md, "Moving jobs"). Buried jobs first (oldest
 * first, so the buried order is kept), then delayed, then ready ones. Reserved jobs belong to their
 * workers: they are moved once released, waiting at most `waitMs`.
 *
 * Between stalkd nodes (`moveTubeOnce`) each job moves exactly once (job-move.ts), in bounded
 * batches whose steps are pipelined (moveBatch): no pause, a stop at any moment is finished by the
 * next run.
 *
 * With a stock beanstalkd on either side (`moveTube`), plain protocol commands: the tube is paused
 * on the source, so no consumer reserves a job there that is
 * being copied (a ready job stays ready, a delayed one keeps its deadline: nothing is reserved, so
 * a stop at any point leaves the source's jobs as they were). Then, buried jobs first (oldest
 * first, so the buried order is kept), then delayed, then ready ones: peek, `stats-job` (priority,
 * TTR, time left), copy to the destination, delete at the source. A buried job is put delayed on
 * the destination, then reserved by id and buried there, so no consumer sees it ready. Reserved
 * jobs belong to their workers: they are moved once released, waiting at most `waitMs`. At the
 * end the source's pause is lifted.
 *
 * A moved job gets a new id (the destination numbers it). A stop between the copy and the delete
 * leaves the job on both nodes (a second delivery); the window is one round trip per job.
 */
import type { JobStats } from '../protocol/stats';
import type { Client } from './client';
import { type DestinationOf, type MovedState, moveBatch } from './job-move';

/** Longest delay a put takes (u32 seconds): a buried job waits with it until it is buried. */
const HOLD_DELAY_SECS = 4294967295;
/** The source's pause, renewed while the move runs, seconds. */
const PAUSE_SECS = 600;

export type { MovedState } from './job-move';

export interface MoveStep {
  tube: string;
  state: MovedState;
  fromId: number;
  toId: number;
}

export interface MoveResult {
  moved: number;
  /** Reserved jobs still on the source when the wait ended. */
  reservedLeft: number;
}

export interface MoveOptions {
  /** How long to wait for reserved jobs to be released, ms. */
  waitMs: number;
  onStep?(step: MoveStep): void;
  /** Polling period while waiting for reserved jobs, ms. */
  pollMs?: number;
}

function peekOf(client: Client, state: MovedState) {
  if (state === 'ready') return client.peekReady();
  if (state === 'delayed') return client.peekDelayed();
  return client.peekBuried();
}

/** Copies one job to `dest` (its used tube is `tube`) in `state`; returns the new id. */
async function copyJob(dest: Client, state: MovedState, body: Buffer, stats: JobStats): Promise<number> {
  const ttr = stats.ttr;
  if (state === 'ready') return dest.put(body, { pri: stats.pri, delaySecs: 0, ttrSecs: ttr });
  if (state === 'delayed')
    // time-left is whole seconds, rounded down: one more keeps the job from coming out early (at most 1 s late).
    return dest.put(body, { pri: stats.pri, delaySecs: stats['time-left'] + 1, ttrSecs: ttr });
  const id = await dest.put(body, { pri: stats.pri, delaySecs: HOLD_DELAY_SECS, ttrSecs: ttr });
  const held = await dest.reserveJob(id);
  if (held !== 'NOT_FOUND') await dest.bury(id, stats.pri);
  return id;
}

/** Moves the jobs of `state` one by one until the source shows none. */
async function moveState(
  source: Client,
  dest: Client,
  tube: string,
  state: MovedState,
  options: MoveOptions,
): Promise<number> {
  let moved = 0;
  for (;;) {
    const job = await peekOf(source, state);
    if (!job) return moved;
    const stats = await source.statsJob(job.id);
    if (!stats || stats.state !== state) continue; // changed meanwhile: look again
    const toId = await copyJob(dest, state, job.body, stats);
    await source.delete(job.id);
    moved++;
    options.onStep?.({ tube, state, fromId: job.id, toId });
  }
}

/**
 * Runs `pass` (one pass over buried, delayed and ready jobs, returning how many moved) until the
 * source's tube is empty, or holds only reserved jobs once `waitMs` has passed.
 */
async function drainTube(
  source: Client,
  tube: string,
  options: MoveOptions,
  pass: () => Promise<number>,
): Promise<MoveResult> {
  const deadline = Date.now() + options.waitMs;
  let moved = 0;
  for (;;) {
    moved += await pass();
    const stats = await source.statsTube(tube);
    const reserved = stats?.['current-jobs-reserved'] ?? 0;
    const left =
      reserved +
      (stats
        ? stats['current-jobs-ready'] + stats['current-jobs-delayed'] + stats['current-jobs-buried']
        : 0);
    if (left === 0 || (reserved === left && Date.now() >= deadline)) return { moved, reservedLeft: reserved };
    // Only reserved jobs are left: poll until their workers let them go (no event tells us).
    if (reserved === left) await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}

const STATES = ['buried', 'delayed', 'ready'] as const;

/** Moves every job of `tube` from `source` to `dest` with plain protocol commands (see the header). */
export async function moveTube(
  source: Client,
  dest: Client,
  tube: string,
  options: MoveOptions,
): Promise<MoveResult> {
  await Promise.all([source.use(tube), dest.use(tube)]);
  try {
    return await drainTube(source, tube, options, async () => {
      await source.pauseTube(tube, PAUSE_SECS);
      let moved = 0;
      for (const state of STATES) moved += await moveState(source, dest, tube, state, options);
      return moved;
    });
  } finally {
    await source.pauseTube(tube, 0).catch(() => 'NOT_FOUND');
  }
}

/**
 * After each batch the mover rests this many times as long as the batch took: it moves at most
 * half the time, so the nodes keep most of their CPU for the clients however fast or slow they
 * answer (a loaded node answers slowly, and the rests grow with it). Batches made a job about
 * three times cheaper; moving flat out, clients lost a third of their throughput (docs/migration.md,
 * "Figures").
 */
export const MOVE_REST_RATIO = 1;

/**
 * Moves every job of `tube` from stalkd node `origin` (`source`) to stalkd node `dest`, each exactly
 * once (job-move.ts), batch by batch with rests between them (MOVE_REST_RATIO). `destinationOf`
 * connects to a node by name.
 */
export async function moveTubeOnce(
  source: Client,
  names: { origin: string; dest: string },
  tube: string,
  destinationOf: DestinationOf,
  options: MoveOptions,
): Promise<MoveResult> {
  await source.use(tube);
  return drainTube(source, tube, options, async () => {
    let moved = 0;
    for (const state of STATES) {
      const peekNext = () => peekOf(source, state);
      for (;;) {
        const started = performance.now();
        const batch = await moveBatch(source, names, peekNext, destinationOf);
        if (batch.length === 0) break;
        for (const result of batch) {
          moved++;
          options.onStep?.({ tube, state: result.state, fromId: result.fromId, toId: result.toId });
        }
        const rest = (performance.now() - started) * MOVE_REST_RATIO;
        await new Promise((resolve) => setTimeout(resolve, rest));
      }
    }
    return moved;
  });
}
