import { IndexedHeap } from './heap';
import { deadlineLess, getSessionHeapIndex, type Job, setSessionHeapIndex } from './job';
import type { Tube } from './tube';

/** What a blocked reserve ends with, delivered through Session.onWake. */
export type WaitOutcome = { type: 'reserved'; job: Job } | { type: 'DEADLINE_SOON' } | { type: 'TIMED_OUT' };

/** How a wait counts and what it may take (internal x-reserve-wait flags use the same bits). */
export const WaitFlags = {
  CountReserve: 1,
  CountReserveWithTimeout: 2,
  /** Take no job: only report DEADLINE_SOON or TIMED_OUT (proxy use). */
  DeadlineOnly: 4,
} as const;

/**
 * The engine's view of one client connection: used tube, watch list, reservations and wait state.
 * The server owns the socket; the engine calls `onWake` when a blocked reserve completes.
 */
export class Session {
  used: Tube;
  /** Watched tubes in beanstalkd's order (removal swaps the last one in). */
  readonly watched: Tube[] = [];
  /** Jobs reserved by this session, soonest TTR deadline first. */
  readonly reserved = new IndexedHeap<Job>(deadlineLess, setSessionHeapIndex, getSessionHeapIndex);
  isProducer = false;
  isWorker = false;
  /** Blocked in reserve. */
  waiting = false;
  waitFlags = 0;
  /** When the wait gives up (TIMED_OUT), ms; Infinity for a plain reserve. */
  waitTimeoutAtMs = Number.POSITIVE_INFINITY;
  /** When this waiting session must next be looked at: min(timeout, soonest deadline − margin). */
  wakeAtMs = Number.POSITIVE_INFINITY;
  /** Position in the engine's heap of waiting sessions. */
  wakeHeapIndex = -1;
  closed = false;

  constructor(
    readonly id: number,
    defaultTube: Tube,
    public onWake: (outcome: WaitOutcome) => void,
  ) {
    this.used = defaultTube;
  }

  watches(tube: Tube): boolean {
    return this.watched.includes(tube);
  }
}
