/**
 * How jobs look outside the engine's tables: replies, stats, the binlog's compaction, tests. A Job
 * is a light view made on demand; the engine itself works on slots (job-table.ts).
 */
import { invariant } from './invariant';
import type { JobCounter, JobTable } from './job-table';
import { NO_JOB, StateCode } from './job-table';
import { type JobRecord, JobState } from './journal';
import type { Session } from './session';
import type { Tube } from './tube';

/** The job state named by each state code. */
const STATE_NAME: readonly JobState[] = [
  JobState.Ready, // Free: never read through a view
  JobState.Ready,
  JobState.Reserved,
  JobState.Delayed,
  JobState.Buried,
  JobState.Moving,
];

/** What a view reads through: the job table and the engine's tube and session registries. */
export interface JobHost {
  readonly table: JobTable;
  tubeByNo(no: number): Tube;
  sessionById(id: number): Session | undefined;
}

/**
 * One job. It follows its job by id, so it stays right when the job's slot moves; once the job is
 * deleted only `id` may be read. Two views of one job are different objects: compare ids.
 */
export class Job {
  constructor(
    private readonly host: JobHost,
    private slotHint: number,
    readonly id: number,
  ) {}

  /** The job's slot now. */
  get slot(): number {
    const table = this.host.table;
    const hint = this.slotHint;
    if (hint < table.capacity && table.id[hint] === this.id && table.state[hint] !== StateCode.Free)
      return hint;
    this.slotHint = table.slotOf(this.id);
    invariant(this.slotHint !== NO_JOB, `job ${this.id} is gone`);
    return this.slotHint;
  }

  get tube(): Tube {
    return this.host.tubeByNo(this.host.table.tubeNo[this.slot]!);
  }
  get pri(): number {
    return this.host.table.pri[this.slot]!;
  }
  get state(): JobState {
    return STATE_NAME[this.host.table.state[this.slot]!] as JobState;
  }
  /** Reserved: TTR deadline. Delayed: when it becomes ready. Otherwise 0. ms since epoch. */
  get deadlineAtMs(): number {
    return this.host.table.deadlineAtMs[this.slot]!;
  }
  /** Owner while reserved. */
  get reservedBy(): Session | null {
    const owner = this.host.table.reservedBy[this.slot]!;
    return owner === 0 ? null : (this.host.sessionById(owner) ?? null);
  }
  get createdAtMs(): number {
    return this.host.table.createdAtMs(this.slot);
  }
  get ttrMs(): number {
    return this.host.table.ttrMs(this.slot);
  }
  /** The last delay given (put or release). */
  get delayMs(): number {
    return this.host.table.delayMs(this.slot);
  }
  get reserves(): number {
    return this.counter('reserves');
  }
  get timeouts(): number {
    return this.counter('timeouts');
  }
  get releases(): number {
    return this.counter('releases');
  }
  get buries(): number {
    return this.counter('buries');
  }
  get kicks(): number {
    return this.counter('kicks');
  }
  get bodyBytes(): number {
    return this.host.table.bodyBytes(this.slot);
  }
  /** Body followed by "\r\n" (bodyBytes + 2 bytes), so a reply is header + this buffer. */
  get bodyWithCrlf(): Buffer {
    return this.host.table.bodyWithCrlf(this.slot);
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

  private counter(name: JobCounter): number {
    return this.host.table.counter(this.slot, name);
  }
}

/** Every live job by id, as a read-only Map (in slot order). */
export class JobsView {
  constructor(private readonly host: JobHost) {}

  get size(): number {
    return this.host.table.live;
  }

  get(id: number): Job | undefined {
    const slot = this.host.table.slotOf(id);
    return slot === NO_JOB ? undefined : new Job(this.host, slot, id);
  }

  has(id: number): boolean {
    return this.host.table.slotOf(id) !== NO_JOB;
  }

  *entries(): Generator<[number, Job]> {
    const table = this.host.table;
    for (let slot = 0; slot < table.capacity; slot++) {
      if (table.state[slot] === StateCode.Free) continue;
      const id = table.id[slot]!;
      yield [id, new Job(this.host, slot, id)];
    }
  }

  *keys(): Generator<number> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): Generator<Job> {
    for (const [, job] of this.entries()) yield job;
  }

  [Symbol.iterator](): Generator<[number, Job]> {
    return this.entries();
  }
}
