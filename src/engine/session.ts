import { IndexedHeap } from './heap';
import type { Job } from './job';
import { type JobTable, NO_JOB } from './job-table';
import { SlotHeap } from './slot-heap';
import type { Tube } from './tube';

/**
 * Sessions watching more tubes than this keep a heap of their watched tubes ordered by each tube's
 * best ready job, so reserve is O(log watched) instead of a scan. Tubes tell such sessions when
 * their best job changes. Small watch lists (the common case) just scan: cheaper than upkeep.
 */
export const WATCH_HEAP_THRESHOLD = 8;

/** One (session, watched tube) pair inside a session's tube heap. */
export class WatchEntry {
  heapIndex = -1;
  constructor(
    readonly session: Session,
    readonly tube: Tube,
  ) {}
}

/** The tube's best job while the tube can give one (ready and not paused), else NO_JOB. */
function topOf(entry: WatchEntry): number {
  return entry.tube.paused ? NO_JOB : entry.tube.ready.peek();
}

function entryLess(a: WatchEntry, b: WatchEntry): boolean {
  const ja = topOf(a);
  const jb = topOf(b);
  if (ja === NO_JOB) return false;
  if (jb === NO_JOB) return true;
  return a.session.jobs.readyLess(ja, jb);
}

/** What a blocked reserve ends with, delivered through Session.onWake. */
export type WaitOutcome = { type: 'reserved'; job: Job } | { type: 'DEADLINE_SOON' } | { type: 'TIMED_OUT' };

/**
 * The engine's view of one client connection: used tube, watch list, reservations and wait state.
 * The server owns the socket; the engine calls `onWake` when a blocked reserve completes.
 */
export class Session {
  used: Tube;
  /** Watched tubes in beanstalkd's order (removal swaps the last one in). */
  readonly watched: Tube[] = [];
  /** Jobs (slots) reserved by this session, soonest TTR deadline first. */
  readonly reserved: SlotHeap;
  isProducer = false;
  isWorker = false;
  /** Blocked in reserve. */
  waiting = false;
  /** The wait takes no job (reserve's deadlineOnly): it is in no tube's waiting set. */
  waitDeadlineOnly = false;
  /** When the wait gives up (TIMED_OUT), ms; Infinity for a plain reserve. */
  waitTimeoutAtMs = Number.POSITIVE_INFINITY;
  /** When this waiting session must next be looked at: min(timeout, soonest deadline − margin). */
  wakeAtMs = Number.POSITIVE_INFINITY;
  /** Position in the engine's heap of waiting sessions. */
  wakeHeapIndex = -1;
  closed = false;
  /** Only for long watch lists (see WATCH_HEAP_THRESHOLD): watched tubes by best ready job. */
  tubeHeap: IndexedHeap<WatchEntry> | null = null;
  readonly entries = new Map<Tube, WatchEntry>();

  constructor(
    readonly id: number,
    defaultTube: Tube,
    public onWake: (outcome: WaitOutcome) => void,
    readonly jobs: JobTable,
  ) {
    this.used = defaultTube;
    this.reserved = new SlotHeap(jobs.deadlineLess, jobs.setSessionHeapIndex, jobs.getSessionHeapIndex);
  }

  watches(tube: Tube): boolean {
    return this.tubeHeap ? this.entries.has(tube) : this.watched.includes(tube);
  }

  /** The best (pri, id) ready job (slot) among the unpaused watched tubes, or NO_JOB. */
  bestReadyJob(): number {
    if (this.tubeHeap) {
      const top = this.tubeHeap.peek();
      return top ? topOf(top) : NO_JOB;
    }
    let best = NO_JOB;
    for (const tube of this.watched) {
      if (tube.paused) continue;
      const top = tube.ready.peek();
      if (top !== NO_JOB && (best === NO_JOB || this.jobs.readyLess(top, best))) best = top;
    }
    return best;
  }

  /** Keeps the tube heap in step after watching `tube` (watched already includes it). */
  trackWatch(tube: Tube): void {
    if (this.tubeHeap) this.addEntry(tube);
    else if (this.watched.length > WATCH_HEAP_THRESHOLD) {
      this.tubeHeap = new IndexedHeap<WatchEntry>(
        entryLess,
        (e, i) => {
          e.heapIndex = i;
        },
        (e) => e.heapIndex,
      );
      for (const t of this.watched) this.addEntry(t);
    }
  }

  /** Keeps the tube heap in step after ignoring `tube` (or closing). */
  trackIgnore(tube: Tube): void {
    const entry = this.entries.get(tube);
    if (!entry) return;
    this.entries.delete(tube);
    tube.bigWatchers.delete(entry);
    this.tubeHeap?.remove(entry);
  }

  private addEntry(tube: Tube): void {
    const entry = new WatchEntry(this, tube);
    this.entries.set(tube, entry);
    tube.bigWatchers.add(entry);
    this.tubeHeap?.push(entry);
  }
}
