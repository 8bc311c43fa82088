import { type JobRecord, JobState } from './journal';
import type { Session } from './session';
import type { Tube } from './tube';

/** One job. Fields mirror beanstalkd's Jobrec; times are ms (wall clock, see Clock). */
export class Job {
  /** Position in whichever per-tube heap (ready or delayed) or the global TTR heap holds it; -1 = none. */
  heapIndex = -1;
  /** Position in the reserving session's deadline heap; -1 = none. */
  sessionHeapIndex = -1;
  /** Buried FIFO links (only while buried). */
  prev: Job | null = null;
  next: Job | null = null;
  /** Owner while reserved. */
  reservedBy: Session | null = null;
  state: JobState = JobState.Ready;
  /** Reserved: TTR deadline. Delayed: when it becomes ready. Otherwise 0. ms since epoch. */
  deadlineAtMs = 0;
  reserves = 0;
  timeouts = 0;
  releases = 0;
  buries = 0;
  kicks = 0;

  constructor(
    readonly id: number,
    public tube: Tube,
    public pri: number,
    public delayMs: number,
    readonly ttrMs: number,
    readonly createdAtMs: number,
    /** Body followed by "\r\n" (bodyBytes + 2 bytes), so a reply is header + this buffer. */
    readonly bodyWithCrlf: Buffer,
  ) {}

  get bodyBytes(): number {
    return this.bodyWithCrlf.length - 2;
  }

  toRecord(): JobRecord {
    return {
      id: this.id,
      tube: this.tube.name,
      pri: this.pri,
      delayMs: this.delayMs,
      ttrMs: this.ttrMs,
      createdAtMs: this.createdAtMs,
      deadlineAtMs: this.state === JobState.Delayed ? this.deadlineAtMs : 0,
      state: this.state,
      reserves: this.reserves,
      timeouts: this.timeouts,
      releases: this.releases,
      buries: this.buries,
      kicks: this.kicks,
    };
  }
}

/** Ready order: priority first (unsigned 32-bit, lower wins), then id (FIFO). */
export function readyLess(a: Job, b: Job): boolean {
  return a.pri < b.pri || (a.pri === b.pri && a.id < b.id);
}

/** Delayed and reserved order: soonest deadline first, then id. */
export function deadlineLess(a: Job, b: Job): boolean {
  return a.deadlineAtMs < b.deadlineAtMs || (a.deadlineAtMs === b.deadlineAtMs && a.id < b.id);
}

export const setHeapIndex = (j: Job, i: number): void => {
  j.heapIndex = i;
};
export const getHeapIndex = (j: Job): number => j.heapIndex;
export const setSessionHeapIndex = (j: Job, i: number): void => {
  j.sessionHeapIndex = i;
};
export const getSessionHeapIndex = (j: Job): number => j.sessionHeapIndex;
