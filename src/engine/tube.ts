import { IndexedHeap } from './heap';
import { deadlineLess, getHeapIndex, type Job, readyLess, setHeapIndex } from './job';
import type { Session, WatchEntry } from './session';

/** Ready jobs with a priority below this count as "urgent" (beanstalkd's URGENT_THRESHOLD). */
export const URGENT_THRESHOLD = 1024;

export class Tube {
  readonly ready = new IndexedHeap<Job>(readyLess, setHeapIndex, getHeapIndex);
  readonly delayed = new IndexedHeap<Job>(deadlineLess, setHeapIndex, getHeapIndex);
  /** Buried jobs, oldest first (doubly linked through Job.prev/next). */
  buriedHead: Job | null = null;
  buriedTail: Job | null = null;
  buriedCount = 0;
  reservedCount = 0;
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

  constructor(readonly name: string) {}

  get jobCount(): number {
    return this.ready.size + this.delayed.size + this.buriedCount + this.reservedCount;
  }

  /** A tube lives while something refers to it: jobs, users, watchers, or it is `default`. */
  get inUse(): boolean {
    return this.permanent || this.usingCount > 0 || this.watchingCount > 0 || this.jobCount > 0;
  }

  pushReady(job: Job): void {
    this.ready.push(job);
    if (job.pri < URGENT_THRESHOLD) this.urgentCount++;
    if (this.ready.peek() === job) this.topChanged();
  }

  removeReady(job: Job): boolean {
    const wasTop = this.ready.peek() === job;
    if (!this.ready.remove(job)) return false;
    if (job.pri < URGENT_THRESHOLD) this.urgentCount--;
    if (wasTop) this.topChanged();
    return true;
  }

  /** The best ready job or the paused flag changed: re-order the tube in long-watch-list heaps. */
  topChanged(): void {
    for (const entry of this.bigWatchers) entry.session.tubeHeap?.update(entry);
  }

  appendBuried(job: Job): void {
    job.prev = this.buriedTail;
    job.next = null;
    if (this.buriedTail) this.buriedTail.next = job;
    else this.buriedHead = job;
    this.buriedTail = job;
    this.buriedCount++;
  }

  removeBuried(job: Job): void {
    if (job.prev) job.prev.next = job.next;
    else this.buriedHead = job.next;
    if (job.next) job.next.prev = job.prev;
    else this.buriedTail = job.prev;
    job.prev = job.next = null;
    this.buriedCount--;
  }
}
