/**
 * Where each job sits, by state: the tube's ready heap, delayed heap or buried list, or the global
 * TTR heap and its owner's deadline heap while reserved. Every move goes through here so that the
 * tube figures, the global counts and the heaps the engine's tick reads stay in step.
 */
import type { Clock } from './clock';
import { IndexedHeap } from './heap';
import { deadlineLess, getHeapIndex, type Job, setHeapIndex } from './job';
import { JobState } from './journal';
import type { Session } from './session';
import type { EngineCounts } from './stats';
import { type Tube, URGENT_THRESHOLD } from './tube';

export class JobPlacement {
  /** Reserved jobs by TTR deadline (Job.heapIndex: a reserved job is in no tube heap). */
  readonly ttrHeap = new IndexedHeap<Job>(deadlineLess, setHeapIndex, getHeapIndex);
  /** Tubes with delayed jobs, by their soonest delayed deadline. */
  readonly delayTubes = new IndexedHeap<Tube>(
    (a, b) => deadlineLess(a.delayed.peek() as Job, b.delayed.peek() as Job),
    (t, i) => {
      t.delayHeapIndex = i;
    },
    (t) => t.delayHeapIndex,
  );

  constructor(
    private readonly counts: EngineCounts,
    private readonly clock: Clock,
  ) {}

  /** Reserve `job` (already detached from its tube structures) for `s`. */
  reserveFor(s: Session, job: Job): void {
    job.state = JobState.Reserved;
    job.reservedBy = s;
    job.reserves++;
    job.deadlineAtMs = this.clock.nowMs() + job.ttrMs;
    job.tube.reservedCount++;
    this.counts.reserved++;
    this.ttrHeap.push(job);
    s.reserved.push(job);
  }

  unlinkReserved(job: Job): void {
    const owner = job.reservedBy as Session;
    this.ttrHeap.remove(job);
    owner.reserved.remove(job);
    job.reservedBy = null;
    job.deadlineAtMs = 0;
    job.tube.reservedCount--;
    this.counts.reserved--;
  }

  /** Takes `job` out of whatever structure holds it (ready, delayed, buried or reserved). */
  detach(job: Job): void {
    switch (job.state) {
      case JobState.Ready:
        this.removeReady(job);
        break;
      case JobState.Delayed:
        this.removeDelayed(job);
        break;
      case JobState.Buried:
        job.tube.removeBuried(job);
        this.counts.buried--;
        break;
      case JobState.Reserved:
        this.unlinkReserved(job);
        break;
    }
  }

  makeReady(job: Job): void {
    job.state = JobState.Ready;
    job.deadlineAtMs = 0;
    job.tube.pushReady(job);
    this.counts.ready++;
    if (job.pri < URGENT_THRESHOLD) this.counts.urgent++;
  }

  removeReady(job: Job): void {
    job.tube.removeReady(job);
    this.counts.ready--;
    if (job.pri < URGENT_THRESHOLD) this.counts.urgent--;
  }

  addDelayed(job: Job): void {
    const tube = job.tube;
    job.state = JobState.Delayed;
    tube.delayed.push(job);
    this.counts.delayed++;
    if (this.delayTubes.has(tube)) this.delayTubes.update(tube);
    else this.delayTubes.push(tube);
  }

  removeDelayed(job: Job): void {
    const tube = job.tube;
    tube.delayed.remove(job);
    this.counts.delayed--;
    if (tube.delayed.size === 0) this.delayTubes.remove(tube);
    else this.delayTubes.update(tube);
  }

  addBuried(job: Job): void {
    job.state = JobState.Buried;
    job.deadlineAtMs = 0;
    job.tube.appendBuried(job);
    this.counts.buried++;
  }
}
