/**
 * Blocked reserves: who waits, for which tubes, until when. Jobs that become ready in a tube go to
 * the tube's longest-waiting session; a waiting session is woken at min(its timeout, its soonest
 * reserved deadline − DEADLINE_SOON margin), found through a heap of sessions by that time.
 */
import type { Clock } from './clock';
import { DEADLINE_SOON_MARGIN_MS } from './constants';
import { IndexedHeap } from './heap';
import type { Job } from './job';
import { type JobTable, NO_JOB } from './job-table';
import type { Session, WaitOutcome } from './session';
import type { EngineCounts } from './stats';
import type { Tube } from './tube';

/** What the wait set needs from the engine (kept narrow to avoid an import cycle). */
export interface WaitHost {
  readonly clock: Clock;
  readonly counts: EngineCounts;
  readonly jobs: JobTable;
  markWorker(s: Session): void;
  removeReady(job: number): void;
  reserveFor(s: Session, job: number): void;
  tubeOf(job: number): Tube;
  /** The view handed to the session for a job it now holds. */
  view(job: number): Job;
}

export class WaitSet {
  private readonly heap = new IndexedHeap<Session>(
    (a, b) => a.wakeAtMs < b.wakeAtMs || (a.wakeAtMs === b.wakeAtMs && a.id < b.id),
    (s, i) => {
      s.wakeHeapIndex = i;
    },
    (s) => s.wakeHeapIndex,
  );

  constructor(private readonly engine: WaitHost) {}

  /**
   * reserve / reserve-with-timeout / x-reserve-wait. DEADLINE_SOON when a held job is within the
   * margin of its TTR and no watched tube has a ready job (pause ignored for that check, as
   * beanstalkd); else the best (pri, id) ready job of the unpaused watched tubes; else TIMED_OUT
   * for a zero timeout; else the session waits (null).
   */
  reserve(s: Session, timeoutMs: number | null, deadlineOnly: boolean): WaitOutcome | null {
    const engine = this.engine;
    engine.markWorker(s);
    const now = engine.clock.nowMs();
    if (this.deadlineSoon(s, now) && (deadlineOnly || !hasReadyJob(s))) return { type: 'DEADLINE_SOON' };
    if (!deadlineOnly) {
      const job = s.bestReadyJob();
      if (job !== NO_JOB) {
        this.take(s, job);
        return { type: 'reserved', job: this.engine.view(job) };
      }
    }
    if (timeoutMs === 0) return { type: 'TIMED_OUT' };
    s.waiting = true;
    s.waitDeadlineOnly = deadlineOnly;
    s.waitTimeoutAtMs = timeoutMs === null ? Number.POSITIVE_INFINITY : now + timeoutMs;
    engine.counts.waiting++;
    if (!deadlineOnly) for (const tube of s.watched) tube.waiting.add(s);
    this.refresh(s);
    return null;
  }

  /** Stops a wait without answering it. */
  cancel(s: Session): void {
    if (!s.waiting) return;
    s.waiting = false;
    this.engine.counts.waiting--;
    for (const tube of s.watched) tube.waiting.delete(s);
    this.heap.remove(s);
    s.wakeAtMs = Number.POSITIVE_INFINITY;
  }

  /** Recomputes when a waiting session must be looked at (after its reservations changed). */
  refresh(s: Session): void {
    if (!s.waiting) return;
    const soonest = s.reserved.peek();
    const marginAt =
      soonest === NO_JOB
        ? Number.POSITIVE_INFINITY
        : this.engine.jobs.deadlineAtMs[soonest]! - DEADLINE_SOON_MARGIN_MS;
    s.wakeAtMs = Math.min(s.waitTimeoutAtMs, marginAt);
    if (s.wakeAtMs === Number.POSITIVE_INFINITY) this.heap.remove(s);
    else if (this.heap.has(s)) this.heap.update(s);
    else this.heap.push(s);
  }

  /** wakeTubes for one tube: a put with nobody waiting on its tube allocates nothing here. */
  wakeTube(tube: Tube): void {
    if (tube.waiting.size > 0) this.wakeTubes([tube]);
  }

  /**
   * Hands ready jobs of these tubes to their waiting sessions, one job at a time, always the best
   * (pri, id) top among the tubes that still have both (beanstalkd's process_queue). Picking again
   * after every hand-out matters: draining one tube first would give a second waiter that tube's
   * next job while another tube it watches holds a better one.
   */
  wakeTubes(tubes: Iterable<Tube>): void {
    const candidates: Tube[] = [];
    for (const tube of tubes) if (tube.waiting.size > 0 && tube.ready.size > 0) candidates.push(tube);
    const jobs = this.engine.jobs;
    for (;;) {
      let best = NO_JOB;
      for (const tube of candidates) {
        const top = tube.paused || tube.waiting.size === 0 ? NO_JOB : tube.ready.peek();
        if (top !== NO_JOB && (best === NO_JOB || jobs.readyLess(top, best))) best = top;
      }
      if (best === NO_JOB) return;
      const s = this.engine.tubeOf(best).waiting.values().next().value as Session;
      this.cancel(s);
      this.take(s, best);
      s.onWake({ type: 'reserved', job: this.engine.view(best) });
    }
  }

  /** Answers every wait due at `now`: DEADLINE_SOON first, else TIMED_OUT. */
  expire(now: number): void {
    for (let s = this.heap.peek(); s && s.wakeAtMs <= now; s = this.heap.peek()) {
      if (this.deadlineSoon(s, now)) {
        this.cancel(s);
        s.onWake({ type: 'DEADLINE_SOON' });
      } else if (now >= s.waitTimeoutAtMs) {
        this.cancel(s);
        s.onWake({ type: 'TIMED_OUT' });
      } else this.refresh(s);
    }
  }

  nextWakeAtMs(): number {
    return this.heap.peek()?.wakeAtMs ?? Number.POSITIVE_INFINITY;
  }

  private deadlineSoon(s: Session, now: number): boolean {
    const soonest = s.reserved.peek();
    return soonest !== NO_JOB && now + DEADLINE_SOON_MARGIN_MS >= this.engine.jobs.deadlineAtMs[soonest]!;
  }

  private take(s: Session, job: number): void {
    this.engine.removeReady(job);
    this.engine.reserveFor(s, job);
  }
}

function hasReadyJob(s: Session): boolean {
  for (const tube of s.watched) if (tube.ready.size > 0) return true;
  return false;
}
