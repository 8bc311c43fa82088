import { type JobTable, NO_JOB } from './job-table';
import type { Session, WatchEntry } from './session';
import { SlotHeap } from './slot-heap';

/** Ready jobs with a priority below this count as "urgent" (beanstalkd's URGENT_THRESHOLD). */
export const URGENT_THRESHOLD = 1024;

/** One tube. Its jobs are slots of the engine's job table (see job-table.ts). */
export class Tube {
  readonly ready: SlotHeap;
  readonly delayed: SlotHeap;
  /** Buried jobs, oldest first (doubly linked through the table's prev/next columns). */
  buriedHead = NO_JOB;
  buriedTail = NO_JOB;
  buriedCount = 0;
  reservedCount = 0;
  /** Jobs being moved to another node (moves.ts): in no heap, yet they keep the tube alive. */
  movingCount = 0;
  urgentCount = 0;
  /** Sessions blocked in reserve that watch this tube, in arrival order. */
  readonly waiting = new Set<Session>();
  /** Entries of sessions with long watch lists, told when this tube's best job changes. */
  readonly bigWatchers = new Set<WatchEntry>();
  usingCount = 0;
  watchingCount = 0;
  /** Position in the engine's tube list (list-tubes order), -1 when gone. */
  listIndex = -1;
  /** Position in the engine's heap of tubes by soonest delayed deadline. */
  delayHeapIndex = -1;
  /** Position in the engine's heap of paused tubes by unpause time. */
  pauseHeapIndex = -1;
  /** The `default` tube never disappears. */
  permanent = false;
  // Stats.
  totalJobs = 0;
  cmdDelete = 0;
  cmdPauseTube = 0;
  /** Configured pause while paused, ms; 0 when not paused. */
  pauseMs = 0;
  /** When the pause ends, ms since epoch (meaningful while pauseMs > 0 or paused). */
  unpauseAtMs = 0;
  paused = false;

  constructor(
    readonly name: string,
    /** The number jobs name this tube by (the table's tubeNo column) while it lives. */
    readonly no: number,
    private readonly jobs: JobTable,
  ) {
    this.ready = new SlotHeap(jobs.readyLess, jobs.setHeapIndex, jobs.getHeapIndex);
    this.delayed = new SlotHeap(jobs.deadlineLess, jobs.setHeapIndex, jobs.getHeapIndex);
  }

  /**
   * Creation time of the oldest ready job (the `age` of stats-job counts from it), or Infinity when
   * none is ready. A scan of the ready heap: for metrics at scrape time, never on a command.
   */
  oldestReadyCreatedAtMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.ready.size; i++) {
      const createdAtMs = this.jobs.createdAtMs(this.ready.slotAt(i));
      if (createdAtMs < oldest) oldest = createdAtMs;
    }
    return oldest;
  }

  get jobCount(): number {
    return this.ready.size + this.delayed.size + this.buriedCount + this.reservedCount;
  }

  /** A tube lives while something refers to it: jobs, users, watchers, or it is `default`. */
  get inUse(): boolean {
    return (
      this.permanent ||
      this.usingCount > 0 ||
      this.watchingCount > 0 ||
      this.jobCount > 0 ||
      this.movingCount > 0
    );
  }

  pushReady(job: number): void {
    this.ready.push(job);
    if (this.jobs.pri[job]! < URGENT_THRESHOLD) this.urgentCount++;
    if (this.ready.peek() === job) this.topChanged();
  }

  removeReady(job: number): boolean {
    const wasTop = this.ready.peek() === job;
    if (!this.ready.remove(job)) return false;
    if (this.jobs.pri[job]! < URGENT_THRESHOLD) this.urgentCount--;
    if (wasTop) this.topChanged();
    return true;
  }

  /** The best ready job or the paused flag changed: re-order the tube in long-watch-list heaps. */
  topChanged(): void {
    for (const entry of this.bigWatchers) entry.session.tubeHeap?.update(entry);
  }

  appendBuried(job: number): void {
    const { prev, next } = this.jobs;
    prev[job] = this.buriedTail;
    next[job] = NO_JOB;
    if (this.buriedTail !== NO_JOB) next[this.buriedTail] = job;
    else this.buriedHead = job;
    this.buriedTail = job;
    this.buriedCount++;
  }

  removeBuried(job: number): void {
    const { prev, next } = this.jobs;
    const before = prev[job]!;
    const after = next[job]!;
    if (before !== NO_JOB) next[before] = after;
    else this.buriedHead = after;
    if (after !== NO_JOB) prev[after] = before;
    else this.buriedTail = before;
    prev[job] = next[job] = NO_JOB;
    this.buriedCount--;
  }

  /** The buried job now at slot `to` was at `from` (the table shrank): its neighbours follow. */
  relinkBuried(to: number): void {
    const { prev, next } = this.jobs;
    const before = prev[to]!;
    const after = next[to]!;
    if (before !== NO_JOB) next[before] = to;
    else this.buriedHead = to;
    if (after !== NO_JOB) prev[after] = to;
    else this.buriedTail = to;
  }
}
