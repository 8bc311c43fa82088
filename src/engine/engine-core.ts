/**
 * The engine's state and the helpers every command shares: the job table, tubes, sessions, the
 * placement of jobs by state, waits, moves and the id sequence. Engine (engine.ts) is this plus the
 * commands (job-commands.ts) and sessions, tubes, time and recovery.
 */
import type { Clock } from './clock';
import { IndexedHeap } from './heap';
import { invariant } from './invariant';
import { Job, type JobHost, JobsView } from './job';
import { JobTable, NO_JOB } from './job-table';
import { type JobRecord, JobState, type Journal, nullJournal } from './journal';
import { Moves } from './moves';
import { JobPlacement } from './placement';
import type { Session } from './session';
import type { EngineCounts } from './stats';
import type { Tube } from './tube';
import { TubeRegistry } from './tube-registry';
import { WaitSet } from './wait-set';

export interface EngineOptions {
  clock: Clock;
  journal?: Journal;
  /** Ids are idOffset, idOffset+idStride, … (standalone: 1, 2, 3, …). */
  idStride?: number;
  idOffset?: number;
  /** Puts that would take the jobs' memory (JobTable.jobsBytes) past this answer OUT_OF_MEMORY; 0 = no limit. */
  maxJobsBytes?: number;
}
export class EngineCore implements JobHost {
  readonly clock: Clock;
  journal: Journal;
  /** Every live job, by slot (job-table.ts); the engine's structures hold slots. */
  readonly table = new JobTable((from, to) => this.place.relocate(from, to));
  /** Live jobs by id, as views. */
  readonly jobs = new JobsView(this);
  protected readonly registry: TubeRegistry;
  readonly counts: EngineCounts = {
    urgent: 0,
    ready: 0,
    reserved: 0,
    delayed: 0,
    buried: 0,
    jobTimeouts: 0,
    totalJobs: 0,
    tubes: 0,
    sessions: 0,
    producers: 0,
    workers: 0,
    waiting: 0,
  };
  draining = false;
  /** Sequence number of the last journal record written; the server gates replies on it. */
  lastJournalSeq = 0;
  readonly defaultTube: Tube;

  protected nextId: number;
  /** Ids up to this may be handed out (granted by the journal: see Journal.reserveIds). */
  protected idCeiling = 0;
  protected readonly idStride: number;
  /** 0 = no ceiling (EngineOptions.maxJobsBytes). */
  readonly maxJobsBytes: number;
  protected nextSessionId = 1;
  /** Open sessions by id (a reserved job names its owner by id). */
  protected readonly sessions = new Map<number, Session>();
  /** Where each job sits by state: tube structures, the TTR and delay heaps, the counts. */
  protected readonly place: JobPlacement;
  /** Paused tubes by unpause time. */
  protected readonly pauseHeap = new IndexedHeap<Tube>(
    (a, b) => a.unpauseAtMs < b.unpauseAtMs,
    (t, i) => {
      t.pauseHeapIndex = i;
    },
    (t) => t.pauseHeapIndex,
  );
  protected readonly waits: WaitSet;
  /** Jobs being moved out and the import keys (moves.ts). */
  readonly moves: Moves;

  constructor(options: EngineOptions) {
    this.clock = options.clock;
    this.journal = options.journal ?? nullJournal;
    this.place = new JobPlacement(this.counts, this.clock, this);
    this.registry = new TubeRegistry(this.table);
    this.waits = new WaitSet({
      clock: this.clock,
      counts: this.counts,
      jobs: this.table,
      markWorker: (s) => this.markWorker(s),
      removeReady: (job) => this.place.removeReady(job),
      reserveFor: (s, job) => this.place.reserveFor(s, job),
      tubeOf: (job) => this.place.tubeOf(job),
      view: (job) => this.view(job),
    });
    this.moves = new Moves(this.table, (job) => this.place.tubeOf(job));
    this.maxJobsBytes = options.maxJobsBytes ?? 0;
    this.idStride = options.idStride ?? 1;
    this.nextId = options.idOffset ?? 1;
    invariant(this.idStride >= 1 && this.nextId >= 1 && this.nextId <= this.idStride, 'bad id stride/offset');
    this.defaultTube = this.findOrMakeTube('default');
    this.defaultTube.permanent = true;
  }

  markWorker(s: Session): void {
    if (!s.isWorker) {
      s.isWorker = true;
      this.counts.workers++;
    }
  }

  findOrMakeTube(name: string): Tube {
    const { tube, created } = this.registry.findOrMake(name);
    if (created) this.counts.tubes++;
    return tube;
  }

  // ---- views and registries (JobHost) ---------------------------------------------------------

  /** A view of the job in `slot`, for replies, stats and tests. */
  view(slot: number): Job {
    return new Job(this, slot, this.table.id[slot]!);
  }

  tubeByNo(no: number): Tube {
    return this.registry.numbered(no);
  }

  sessionById(id: number): Session | undefined {
    return this.sessions.get(id);
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The job leaves every structure and the table; its tube may go. */
  protected removeJob(job: number): void {
    const tube = this.place.tubeOf(job);
    this.place.detach(job);
    this.moves.unhide(job);
    this.table.remove(job); // other jobs may change slots now
    this.dropTubeIfUnused(tube);
  }

  /** A detached job takes the state its record gives, with replay's rules (see applyRecord). */
  protected placeAsLogged(job: number, record: JobRecord): void {
    if (record.state === JobState.Buried) this.place.addBuried(job);
    else if (record.state === JobState.Delayed && record.deadlineAtMs > this.clock.nowMs()) {
      this.table.deadlineAtMs[job] = record.deadlineAtMs;
      this.place.addDelayed(job);
    } else {
      this.place.makeReady(job);
      this.waits.wakeTube(this.place.tubeOf(job));
    }
  }

  /** The next id, or 0 when the journal cannot grant a ceiling covering it (nothing is consumed). */
  protected allocateId(): number {
    const id = this.nextId;
    invariant(id < Number.MAX_SAFE_INTEGER, 'job id space exhausted');
    if (id > this.idCeiling) {
      const ceiling = this.journal.reserveIds(id);
      if (ceiling === null) return 0;
      this.idCeiling = ceiling;
    }
    this.nextId += this.idStride;
    return id;
  }

  protected watchTube(s: Session, tube: Tube): void {
    s.watched.push(tube);
    tube.watchingCount++;
    s.trackWatch(tube);
  }

  protected setPaused(tube: Tube, paused: boolean): void {
    if (!paused) tube.pauseMs = 0;
    if (tube.paused === paused) return;
    tube.paused = paused;
    tube.topChanged();
  }

  protected dropTubeIfUnused(tube: Tube): void {
    if (tube.inUse || !this.registry.drop(tube)) return;
    this.pauseHeap.remove(tube);
    this.counts.tubes--;
  }

  /** The slot of job `id` if `s` holds it reserved, else NO_JOB. */
  protected ownJob(s: Session, id: number): number {
    const job = this.table.slotOf(id);
    return job !== NO_JOB && this.holds(s, job) ? job : NO_JOB;
  }

  protected holds(s: Session, job: number): boolean {
    return this.table.reservedBy[job] === s.id;
  }

  protected viewOrNone(job: number): Job | undefined {
    return job === NO_JOB ? undefined : this.view(job);
  }
}
