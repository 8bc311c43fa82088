/**
 * Where each job sits, by state: the tube's ready heap, delayed heap or buried list, or the global
 * TTR heap and its owner's deadline heap while reserved. Every move goes through here so that the
 * tube figures, the global counts and the heaps the engine's tick reads stay in step. Jobs are
 * slots of the job table.
 */
import type { Clock } from './clock';
import { IndexedHeap } from './heap';
import { invariant } from './invariant';
import type { JobHost } from './job';
import { StateCode } from './job-table';
import type { Session } from './session';
import { SlotHeap } from './slot-heap';
import type { EngineCounts } from './stats';
import { type Tube, URGENT_THRESHOLD } from './tube';

export class JobPlacement {
  /** Reserved jobs by TTR deadline (heapIndex column: a reserved job is in no tube heap). */
  readonly ttrHeap: SlotHeap;
  /** Tubes with delayed jobs, by their soonest delayed deadline. */
  readonly delayTubes: IndexedHeap<Tube>;

  constructor(
    private readonly counts: EngineCounts,
    private readonly clock: Clock,
    private readonly host: JobHost,
  ) {
    const jobs = host.table;
    this.ttrHeap = new SlotHeap(jobs.deadlineLess, jobs.setHeapIndex, jobs.getHeapIndex);
    this.delayTubes = new IndexedHeap<Tube>(
      (a, b) => jobs.deadlineLess(a.delayed.peek(), b.delayed.peek()),
      (t, i) => {
        t.delayHeapIndex = i;
      },
      (t) => t.delayHeapIndex,
    );
  }

  tubeOf(job: number): Tube {
    return this.host.tubeByNo(this.host.table.tubeNo[job]!);
  }

  ownerOf(job: number): Session {
    const owner = this.host.sessionById(this.host.table.reservedBy[job]!);
    invariant(owner !== undefined, `reserved job in slot ${job} has no owner`);
    return owner;
  }

  /** Reserve `job` (already detached from its tube structures) for `s`. */
  reserveFor(s: Session, job: number): void {
    const jobs = this.host.table;
    jobs.state[job] = StateCode.Reserved;
    jobs.reservedBy[job] = s.id;
    jobs.bump(job, 'reserves');
    jobs.deadlineAtMs[job] = this.clock.nowMs() + jobs.ttrMs(job);
    this.tubeOf(job).reservedCount++;
    this.counts.reserved++;
    this.ttrHeap.push(job);
    s.reserved.push(job);
  }

  unlinkReserved(job: number): void {
    const jobs = this.host.table;
    this.ttrHeap.remove(job);
    this.ownerOf(job).reserved.remove(job);
    jobs.reservedBy[job] = 0;
    jobs.deadlineAtMs[job] = 0;
    this.tubeOf(job).reservedCount--;
    this.counts.reserved--;
  }

  /** Takes `job` out of whatever structure holds it (ready, delayed, buried or reserved). */
  detach(job: number): void {
    switch (this.host.table.state[job]) {
      case StateCode.Ready:
        this.removeReady(job);
        break;
      case StateCode.Delayed:
        this.removeDelayed(job);
        break;
      case StateCode.Buried:
        this.tubeOf(job).removeBuried(job);
        this.counts.buried--;
        break;
      case StateCode.Reserved:
        this.unlinkReserved(job);
        break;
    }
  }

  makeReady(job: number): void {
    const jobs = this.host.table;
    jobs.state[job] = StateCode.Ready;
    jobs.deadlineAtMs[job] = 0;
    this.tubeOf(job).pushReady(job);
    this.counts.ready++;
    if (jobs.pri[job]! < URGENT_THRESHOLD) this.counts.urgent++;
  }

  removeReady(job: number): void {
    this.tubeOf(job).removeReady(job);
    this.counts.ready--;
    if (this.host.table.pri[job]! < URGENT_THRESHOLD) this.counts.urgent--;
  }

  /** Delays `job` until its deadlineAtMs (already set). */
  addDelayed(job: number): void {
    const tube = this.tubeOf(job);
    this.host.table.state[job] = StateCode.Delayed;
    tube.delayed.push(job);
    this.counts.delayed++;
    if (this.delayTubes.has(tube)) this.delayTubes.update(tube);
    else this.delayTubes.push(tube);
  }

  removeDelayed(job: number): void {
    const tube = this.tubeOf(job);
    tube.delayed.remove(job);
    this.counts.delayed--;
    if (tube.delayed.size === 0) this.delayTubes.remove(tube);
    else this.delayTubes.update(tube);
  }

  addBuried(job: number): void {
    const jobs = this.host.table;
    jobs.state[job] = StateCode.Buried;
    jobs.deadlineAtMs[job] = 0;
    this.tubeOf(job).appendBuried(job);
    this.counts.buried++;
  }

  /** The job at slot `from` now lives at `to` (the table shrank): the heap or list holding it follows. */
  relocate(from: number, to: number): void {
    const jobs = this.host.table;
    const tube = this.tubeOf(to);
    switch (jobs.state[to]) {
      case StateCode.Ready:
        tube.ready.replaceAt(jobs.heapIndex[to]!, to);
        break;
      case StateCode.Delayed:
        tube.delayed.replaceAt(jobs.heapIndex[to]!, to);
        break;
      case StateCode.Buried:
        tube.relinkBuried(to);
        break;
      case StateCode.Reserved:
        this.ttrHeap.replaceAt(jobs.heapIndex[to]!, to);
        this.ownerOf(to).reserved.replaceAt(jobs.sessionHeapIndex[to]!, to);
        break;
    }
    invariant(from !== to && jobs.state[from] === StateCode.Free, 'relocated onto itself');
  }
}
