/**
 * The queue engine: jobs, tubes, reservations and time. Pure and synchronous — no I/O, no timers.
 * The server calls one method per command and `tick()` whenever the deadline it returned arrives
 * (beanstalkd's prottick). Outcomes are protocol words returned as values.
 *
 * Cost per command: heap operations are O(log n) in the jobs of one tube; reserve scans only the
 * session's own watch list; nothing walks all tubes or all jobs. Global figures are kept current
 * incrementally (see EngineCounts).
 */
import type { Clock } from './clock';
import { MIN_TTR_MS } from './constants';
import { IndexedHeap } from './heap';
import { invariant } from './invariant';
import { Job, type JobHost, JobsView } from './job';
import { JobTable, NO_JOB, StateCode } from './job-table';
import { type ImportKey, type JobRecord, JobState, type Journal, newJobRecord, nullJournal } from './journal';
import { type MovableState, Moves, type Moving } from './moves';
import { JobPlacement } from './placement';
import { Session, type WaitOutcome } from './session';
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

/** Why a put answered OUT_OF_MEMORY: the log refused it (disk), or the memory ceiling. */
export type OutOfMemoryReason = 'binlog' | 'memory';

export type PutResult =
  | { word: 'INSERTED'; id: number }
  | { word: 'EXPECTED_CRLF' | 'DRAINING' }
  | { word: 'OUT_OF_MEMORY'; reason: OutOfMemoryReason };

/** x-import: a put, or IMPORTED when this origin job was imported before, as `id` (maybe gone since). */
export type ImportResult = PutResult | { word: 'IMPORTED'; id: number };

/** x-move-out's destination that starts no move (see moveOut). */
const NO_DEST = '-';

export class Engine implements JobHost {
  readonly clock: Clock;
  journal: Journal;
  /** Every live job, by slot (job-table.ts); the engine's structures hold slots. */
  readonly table = new JobTable((from, to) => this.place.relocate(from, to));
  /** Live jobs by id, as views. */
  readonly jobs = new JobsView(this);
  private readonly registry: TubeRegistry;
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

  private nextId: number;
  /** Ids up to this may be handed out (granted by the journal: see Journal.reserveIds). */
  private idCeiling = 0;
  private readonly idStride: number;
  /** 0 = no ceiling (EngineOptions.maxJobsBytes). */
  readonly maxJobsBytes: number;
  private nextSessionId = 1;
  /** Open sessions by id (a reserved job names its owner by id). */
  private readonly sessions = new Map<number, Session>();
  /** Live tubes by number (a job names its tube by number); numbers of dropped tubes are reused. */
  /** Where each job sits by state: tube structures, the TTR and delay heaps, the counts. */
  private readonly place: JobPlacement;
  /** Paused tubes by unpause time. */
  private readonly pauseHeap = new IndexedHeap<Tube>(
    (a, b) => a.unpauseAtMs < b.unpauseAtMs,
    (t, i) => {
      t.pauseHeapIndex = i;
    },
    (t) => t.pauseHeapIndex,
  );
  private readonly waits: WaitSet;
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

  // ---- sessions -------------------------------------------------------------------------------

  openSession(onWake: (outcome: WaitOutcome) => void = () => {}): Session {
    const s = new Session(this.nextSessionId++, this.defaultTube, onWake, this.table);
    this.sessions.set(s.id, s);
    this.defaultTube.usingCount++;
    this.watchTube(s, this.defaultTube);
    this.counts.sessions++;
    return s;
  }

  /** The connection is gone: its reservations go back to ready at once (no timeout counted). */
  closeSession(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    this.waits.cancel(s);
    const dirty = new Set<Tube>();
    for (let job = s.reserved.peek(); job !== NO_JOB; job = s.reserved.peek()) {
      this.place.unlinkReserved(job);
      this.place.makeReady(job);
      dirty.add(this.place.tubeOf(job));
    }
    const used = s.used;
    used.usingCount--;
    this.dropTubeIfUnused(used);
    for (const tube of s.watched.slice()) {
      tube.watchingCount--;
      s.trackIgnore(tube);
      this.dropTubeIfUnused(tube);
    }
    s.watched.length = 0;
    this.counts.sessions--;
    this.sessions.delete(s.id);
    if (s.isProducer) this.counts.producers--;
    if (s.isWorker) this.counts.workers--;
    this.waits.wakeTubes(dirty);
  }

  markProducer(s: Session): void {
    if (!s.isProducer) {
      s.isProducer = true;
      this.counts.producers++;
    }
  }

  markWorker(s: Session): void {
    if (!s.isWorker) {
      s.isWorker = true;
      this.counts.workers++;
    }
  }

  // ---- tubes ----------------------------------------------------------------------------------

  /** Live tubes by name. */
  get tubes(): ReadonlyMap<string, Tube> {
    return this.registry.byName;
  }

  /** list-tubes order: creation order, removal swaps the last tube in (as beanstalkd). */
  get tubeList(): readonly Tube[] {
    return this.registry.list;
  }

  findTube(name: string): Tube | undefined {
    return this.registry.find(name);
  }

  findOrMakeTube(name: string): Tube {
    const { tube, created } = this.registry.findOrMake(name);
    if (created) this.counts.tubes++;
    return tube;
  }

  /** use T → USING T. The new tube is made before the old one may disappear (list order as beanstalkd). */
  use(s: Session, name: string): void {
    const tube = this.findOrMakeTube(name);
    const old = s.used;
    tube.usingCount++;
    s.used = tube;
    old.usingCount--;
    this.dropTubeIfUnused(old);
  }

  /** watch T → WATCHING <count>. */
  watch(s: Session, name: string): number {
    const tube = this.findOrMakeTube(name);
    if (!s.watches(tube)) this.watchTube(s, tube);
    return s.watched.length;
  }

  /** ignore T → WATCHING <count> | NOT_IGNORED (T is the last watched tube). */
  ignore(s: Session, name: string): number | 'NOT_IGNORED' {
    const i = s.watched.findIndex((t) => t.name === name);
    if (i < 0) return s.watched.length;
    if (s.watched.length < 2) return 'NOT_IGNORED';
    const tube = s.watched[i] as Tube;
    const last = s.watched.pop() as Tube;
    if (i < s.watched.length) s.watched[i] = last;
    tube.watchingCount--;
    tube.waiting.delete(s);
    s.trackIgnore(tube);
    this.dropTubeIfUnused(tube);
    return s.watched.length;
  }

  /**
   * pause-tube T <delay> → PAUSED | NOT_FOUND. A delay of 0 unpauses at once and wakes waiters
   * (beanstalkd pauses for 1 ns, which its next tick ends).
   */
  pauseTube(name: string, delayMs: number): 'PAUSED' | 'NOT_FOUND' {
    const tube = this.registry.find(name);
    if (!tube) return 'NOT_FOUND';
    tube.cmdPauseTube++;
    this.pauseHeap.remove(tube);
    if (delayMs === 0) {
      this.setPaused(tube, false);
      this.waits.wakeTubes([tube]);
      return 'PAUSED';
    }
    this.setPaused(tube, true);
    tube.pauseMs = delayMs;
    tube.unpauseAtMs = this.clock.nowMs() + delayMs;
    this.pauseHeap.push(tube);
    return 'PAUSED';
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /**
   * put → INSERTED <id> | EXPECTED_CRLF | DRAINING | OUT_OF_MEMORY. Failed puts past the size
   * check burn an id, as in beanstalkd. Journal: one full record (space for its delete reserved);
   * now and then an id ceiling (OUT_OF_MEMORY when it cannot be logged).
   * The body is copied into the job table, except a big one (over 32 KiB), which is kept as given.
   */
  put(
    s: Session,
    pri: number,
    delayMs: number,
    ttrMs: number,
    bodyWithCrlf: Buffer,
    bodyOk: boolean,
  ): PutResult {
    return this.insert(s, pri, delayMs, ttrMs, bodyWithCrlf, bodyOk, JobState.Ready);
  }

  /**
   * x-import <node> <origin-id> … (moves.ts): a put in `state` (buried: straight onto the buried
   * list) that remembers its origin in the same full record — IMPORTED <id> when that origin was
   * imported before (within the grace), whatever became of the job since.
   */
  importJob(
    s: Session,
    origin: { node: string; originId: number },
    job: { pri: number; delayMs: number; ttrMs: number; state: MovableState },
    bodyWithCrlf: Buffer,
    bodyOk: boolean,
  ): ImportResult {
    const earlier = this.moves.imported(origin.node, origin.originId, this.clock.nowMs());
    if (earlier !== undefined) return { word: 'IMPORTED', id: earlier.newId };
    const delayMs = job.state === JobState.Delayed ? job.delayMs : 0;
    return this.insert(s, job.pri, delayMs, job.ttrMs, bodyWithCrlf, bodyOk, job.state, origin);
  }

  private insert(
    s: Session,
    pri: number,
    delayMs: number,
    ttrMs: number,
    bodyWithCrlf: Buffer,
    bodyOk: boolean,
    state: MovableState,
    origin?: { node: string; originId: number },
  ): PutResult {
    const id = this.allocateId();
    if (!bodyOk) return { word: 'EXPECTED_CRLF' };
    if (this.draining) return { word: 'DRAINING' };
    if (id === 0) return { word: 'OUT_OF_MEMORY', reason: 'binlog' };
    if (this.maxJobsBytes > 0 && this.table.jobsBytes + bodyWithCrlf.length > this.maxJobsBytes)
      return { word: 'OUT_OF_MEMORY', reason: 'memory' };
    const now = this.clock.nowMs();
    const tube = s.used;
    const ttr = Math.max(ttrMs, MIN_TTR_MS);
    const record = newJobRecord(id, tube.name, pri, delayMs, ttr, now, this.clock.preciseNowMs());
    if (state === JobState.Buried) record.state = JobState.Buried;
    const key: ImportKey | undefined = origin && { ...origin, newId: id, atMs: now };
    const seq = this.journal.logPut(record, bodyWithCrlf.subarray(0, bodyWithCrlf.length - 2), key);
    if (seq === null) return { word: 'OUT_OF_MEMORY', reason: 'binlog' };
    this.lastJournalSeq = seq;
    if (key) {
      this.moves.remember(key, now);
      this.moves.movedIn++;
    }
    const job = this.table.create(record, tube.no, bodyWithCrlf, false);
    tube.totalJobs++;
    this.counts.totalJobs++;
    if (record.state === JobState.Buried) this.place.addBuried(job);
    else if (delayMs > 0) this.place.addDelayed(job);
    else {
      this.place.makeReady(job);
      this.waits.wakeTubes([tube]);
    }
    return { word: 'INSERTED', id };
  }

  /**
   * x-move-out <id> <dest> → the move (moves.ts) | NOT_FOUND | BUSY (reserved) | OUT_OF_MEMORY. A
   * ready, delayed or buried job becomes moving to `dest`; a job already moving answers its move as
   * it is (the first destination stays). `dest` "-" only reports a move, never starts one (NOT_FOUND
   * when the job is not moving). Journal: a Move record.
   */
  moveOut(id: number, dest: string): Moving | 'NOT_FOUND' | 'BUSY' | 'OUT_OF_MEMORY' {
    const job = this.table.slotOf(id);
    if (job === NO_JOB) return 'NOT_FOUND';
    const state = this.table.state[job];
    if (state === StateCode.Moving) return this.moves.of(id)!;
    if (dest === NO_DEST) return 'NOT_FOUND';
    if (state === StateCode.Reserved) return 'BUSY';
    const record = this.view(job).toRecord();
    const seq = this.journal.logMoveOut(record, dest);
    if (seq === null) return 'OUT_OF_MEMORY';
    this.lastJournalSeq = seq;
    this.place.detach(job);
    this.moves.hide(job, record, dest);
    return this.moves.of(id)!;
  }

  /** x-move-done <id> → DELETED | NOT_FOUND (not moving). Journal: a delete record. */
  moveDone(id: number): 'DELETED' | 'NOT_FOUND' {
    const job = this.table.slotOf(id);
    if (job === NO_JOB || this.table.state[job] !== StateCode.Moving) return 'NOT_FOUND';
    this.removeJob(job);
    this.lastJournalSeq = this.journal.logDelete(id);
    this.moves.movedOut++;
    return 'DELETED';
  }

  /** delete <id> → DELETED | NOT_FOUND: own reserved job, or any ready, delayed or buried job. */
  delete(s: Session, id: number): 'DELETED' | 'NOT_FOUND' {
    const job = this.table.slotOf(id);
    const state = this.table.state[job];
    // A moving job is deleted by its move (x-move-done): a copy may already be on its destination.
    if (job === NO_JOB || state === StateCode.Moving || (state === StateCode.Reserved && !this.holds(s, job)))
      return 'NOT_FOUND';
    this.place.tubeOf(job).cmdDelete++;
    this.removeJob(job);
    this.lastJournalSeq = this.journal.logDelete(id);
    return 'DELETED';
  }

  /**
   * release <id> <pri> <delay> → RELEASED | NOT_FOUND | OUT_OF_MEMORY. Only the reserver may
   * release. Journal: a state record (so a new priority survives a restart); with a delay, a
   * failure to log it refuses the release.
   */
  release(s: Session, id: number, pri: number, delayMs: number): 'RELEASED' | 'NOT_FOUND' | 'OUT_OF_MEMORY' {
    const job = this.ownJob(s, id);
    if (job === NO_JOB) return 'NOT_FOUND';
    const record = this.view(job).toRecord();
    record.pri = pri;
    record.delayMs = delayMs;
    record.releases++;
    const now = this.clock.nowMs();
    if (delayMs > 0) {
      record.state = JobState.Delayed;
      record.deadlineAtMs = now + delayMs;
    } else record.state = JobState.Ready;
    const seq = this.journal.logUpdate(record);
    if (seq === null && delayMs > 0) return 'OUT_OF_MEMORY';
    if (seq !== null) this.lastJournalSeq = seq;
    const jobs = this.table;
    this.place.unlinkReserved(job);
    jobs.pri[job] = pri;
    jobs.setDelayMs(job, delayMs);
    jobs.bump(job, 'releases');
    if (delayMs > 0) {
      jobs.deadlineAtMs[job] = now + delayMs;
      this.place.addDelayed(job);
    } else {
      this.place.makeReady(job);
      this.waits.wakeTubes([this.place.tubeOf(job)]);
    }
    return 'RELEASED';
  }

  /**
   * x-unreserve <id> (internal, proxy): the reservation is undone without trace — back to ready,
   * `reserves` decremented, nothing logged (reserves are not logged).
   */
  unreserve(s: Session, id: number): 'UNRESERVED' | 'NOT_FOUND' {
    const job = this.ownJob(s, id);
    if (job === NO_JOB) return 'NOT_FOUND';
    this.place.unlinkReserved(job);
    this.table.bump(job, 'reserves', -1);
    this.place.makeReady(job);
    this.waits.wakeTubes([this.place.tubeOf(job)]);
    return 'UNRESERVED';
  }

  /** bury <id> <pri> → BURIED | NOT_FOUND | INTERNAL_ERROR (cannot log). */
  bury(s: Session, id: number, pri: number): 'BURIED' | 'NOT_FOUND' | 'INTERNAL_ERROR' {
    const job = this.ownJob(s, id);
    if (job === NO_JOB) return 'NOT_FOUND';
    const record = this.view(job).toRecord();
    record.pri = pri;
    record.state = JobState.Buried;
    record.buries++;
    const seq = this.journal.logUpdate(record);
    if (seq === null) return 'INTERNAL_ERROR';
    this.lastJournalSeq = seq;
    this.place.unlinkReserved(job);
    this.table.pri[job] = pri;
    this.table.bump(job, 'buries');
    this.place.addBuried(job);
    return 'BURIED';
  }

  /** touch <id> → TOUCHED | NOT_FOUND: the reserver gets a full TTR again. Not logged. */
  touch(s: Session, id: number): 'TOUCHED' | 'NOT_FOUND' {
    const job = this.ownJob(s, id);
    if (job === NO_JOB) return 'NOT_FOUND';
    this.table.deadlineAtMs[job] = this.clock.nowMs() + this.table.ttrMs(job);
    this.place.ttrHeap.update(job);
    s.reserved.update(job);
    return 'TOUCHED';
  }

  /** reserve-job <id> → the job | NOT_FOUND. Takes a ready, delayed or buried job; ignores watch and pause. */
  reserveJob(s: Session, id: number): Job | 'NOT_FOUND' {
    const job = this.table.slotOf(id);
    const state = this.table.state[job];
    if (job === NO_JOB || state === StateCode.Reserved || state === StateCode.Moving) return 'NOT_FOUND';
    this.markWorker(s);
    this.place.detach(job);
    this.place.reserveFor(s, job);
    return this.view(job);
  }

  /**
   * reserve / reserve-with-timeout → an outcome now, or null when the session now waits (the
   * outcome then arrives through Session.onWake). timeoutMs null = wait forever. `deadlineOnly`
   * takes no job: the wait only reports DEADLINE_SOON or TIMED_OUT (the proxy's deadline waits).
   */
  reserve(s: Session, timeoutMs: number | null, deadlineOnly = false): WaitOutcome | null {
    return this.waits.reserve(s, timeoutMs, deadlineOnly);
  }

  /** x-cancel: ends a wait in progress with TIMED_OUT (delivered through onWake). */
  cancelWait(s: Session): boolean {
    if (!s.waiting) return false;
    this.waits.cancel(s);
    s.onWake({ type: 'TIMED_OUT' });
    return true;
  }

  /** kick <bound> → how many jobs moved: buried ones if the used tube has any, else delayed ones. */
  kick(s: Session, bound: number): number {
    const tube = s.used;
    let kicked = 0;
    const fromBuried = tube.buriedCount > 0;
    while (kicked < bound) {
      const job = fromBuried ? tube.buriedHead : tube.delayed.peek();
      if (job === NO_JOB || !this.kickOne(job)) break;
      kicked++;
    }
    return kicked;
  }

  /** kick-job <id> → KICKED | NOT_FOUND (only buried or delayed jobs). */
  kickJob(id: number): 'KICKED' | 'NOT_FOUND' {
    const job = this.table.slotOf(id);
    if (job === NO_JOB) return 'NOT_FOUND';
    const state = this.table.state[job];
    if (state !== StateCode.Buried && state !== StateCode.Delayed) return 'NOT_FOUND';
    return this.kickOne(job) ? 'KICKED' : 'NOT_FOUND';
  }

  peek(id: number): Job | undefined {
    return this.jobs.get(id);
  }

  peekReady(s: Session): Job | undefined {
    return this.viewOrNone(s.used.ready.peek());
  }

  peekDelayed(s: Session): Job | undefined {
    return this.viewOrNone(s.used.delayed.peek());
  }

  peekBuried(s: Session): Job | undefined {
    return this.viewOrNone(s.used.buriedHead);
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

  drain(): void {
    this.draining = true;
  }

  // ---- time -----------------------------------------------------------------------------------

  /**
   * Runs everything due at clock.nowMs(): delayed jobs become ready, pauses end, TTRs expire,
   * waiters time out. Returns the next deadline (ms since epoch) or Infinity. A deadline equal
   * to now is due (beanstalkd's off-by-one at the exact microsecond leaves jobs reserved).
   */
  tick(): number {
    const now = this.clock.nowMs();
    const jobs = this.table;
    const dirty = new Set<Tube>();
    for (let tube = this.place.delayTubes.peek(); tube; tube = this.place.delayTubes.peek()) {
      const job = tube.delayed.peek();
      if (jobs.deadlineAtMs[job]! > now) break;
      this.place.removeDelayed(job);
      this.place.makeReady(job);
      dirty.add(tube);
    }
    for (let tube = this.pauseHeap.peek(); tube && tube.unpauseAtMs <= now; tube = this.pauseHeap.peek()) {
      this.pauseHeap.pop();
      this.setPaused(tube, false);
      dirty.add(tube);
    }
    // Jobs that became ready go to waiters first; then waits that are due are answered — before any
    // TTR expires, so a late tick answers DEADLINE_SOON rather than handing a waiter its own job.
    this.waits.wakeTubes(dirty);
    dirty.clear();
    this.waits.expire(now);
    for (
      let job = this.place.ttrHeap.peek();
      job !== NO_JOB && jobs.deadlineAtMs[job]! <= now;
      job = this.place.ttrHeap.peek()
    ) {
      const owner = this.place.ownerOf(job);
      this.place.unlinkReserved(job);
      jobs.bump(job, 'timeouts');
      this.counts.jobTimeouts++;
      this.place.makeReady(job);
      dirty.add(this.place.tubeOf(job));
      this.waits.refresh(owner);
    }
    this.waits.wakeTubes(dirty);
    this.waits.expire(now);
    return this.nextDeadline();
  }

  nextDeadline(): number {
    const deadlines = this.table.deadlineAtMs;
    let next = this.waits.nextWakeAtMs();
    const delayed = this.place.delayTubes.peek()?.delayed.peek() ?? NO_JOB;
    if (delayed !== NO_JOB && deadlines[delayed]! < next) next = deadlines[delayed]!;
    const paused = this.pauseHeap.peek();
    if (paused && paused.unpauseAtMs < next) next = paused.unpauseAtMs;
    const ttr = this.place.ttrHeap.peek();
    if (ttr !== NO_JOB && deadlines[ttr]! < next) next = deadlines[ttr]!;
    return next;
  }

  // ---- recovery -------------------------------------------------------------------------------

  /** Rebuilds one job from the binlog: reserved → ready, delayed keeps its absolute deadline. */
  restoreJob(record: JobRecord, body: Buffer, movingTo?: string): void {
    const job = this.table.create(record, this.findOrMakeTube(record.tube).no, body, true);
    if (movingTo !== undefined) this.moves.hide(job, record, movingTo);
    else if (record.state === JobState.Buried) this.place.addBuried(job);
    else if (record.state === JobState.Delayed && record.deadlineAtMs > this.clock.nowMs())
      this.place.addDelayed(job); // its deadline is the record's
    else this.place.makeReady(job);
    this.setNextId(record.id + 1);
  }

  /**
   * A record of the primary's log applied on a standby (replication). The job takes the state the
   * record gives — reserved counts as ready: reservations are not replicated — with replay's rules
   * (a delayed job whose deadline passed is ready). A job keeps its place where nothing that orders
   * it changed, so a compaction copy of a buried job does not move it to the end of the buried list.
   * `body` (without CRLF): a full record; undefined: a state record, ignored for an unknown job (its
   * full record was in a segment the copy did not include, as in replay).
   */
  applyRecord(record: JobRecord, body: Buffer | undefined, movingTo?: string): void {
    const job = this.table.slotOf(record.id);
    if (job === NO_JOB) {
      if (body !== undefined) this.restoreJob(record, body, movingTo);
      return;
    }
    const jobs = this.table;
    if (jobs.state[job] === StateCode.Moving || movingTo !== undefined) {
      // Into or out of moving (a Move record, a compaction copy): placed again from scratch.
      this.place.detach(job);
      this.moves.unhide(job);
      jobs.setLoggedFields(job, record);
      jobs.pri[job] = record.pri;
      if (movingTo !== undefined) this.moves.hide(job, record, movingTo);
      else this.placeAsLogged(job, record);
      return;
    }
    const deadlineAtMs = record.state === JobState.Delayed ? record.deadlineAtMs : 0;
    const code =
      record.state === JobState.Buried
        ? StateCode.Buried
        : deadlineAtMs > this.clock.nowMs()
          ? StateCode.Delayed
          : StateCode.Ready;
    const moves =
      jobs.state[job] !== code ||
      jobs.pri[job] !== record.pri ||
      (code === StateCode.Delayed && jobs.deadlineAtMs[job] !== deadlineAtMs);
    if (moves) this.place.detach(job);
    jobs.setLoggedFields(job, record);
    if (!moves) return;
    jobs.pri[job] = record.pri;
    if (code === StateCode.Buried) this.place.addBuried(job);
    else if (code === StateCode.Delayed) {
      jobs.deadlineAtMs[job] = deadlineAtMs;
      this.place.addDelayed(job);
    } else {
      this.place.makeReady(job);
      this.waits.wakeTubes([this.place.tubeOf(job)]);
    }
  }

  /** A delete record applied on a standby: the job is gone (nothing when it is unknown). */
  applyDelete(id: number): void {
    const job = this.table.slotOf(id);
    if (job !== NO_JOB) this.removeJob(job);
  }

  /** An import key from the log (replay, a standby's apply). */
  restoreImportKey(key: ImportKey): void {
    this.moves.remember(key, this.clock.nowMs());
  }

  /**
   * Forgets every job (a standby whose log was cut, before it is restored from the shorter log).
   * Sessions stay; jobs they hold reserved are dropped with the rest. The id sequence is kept: ids
   * only ever grow.
   */
  removeAllJobs(): void {
    const ids: number[] = [];
    const jobs = this.table;
    for (let slot = 0; slot < jobs.capacity; slot++)
      if (jobs.state[slot] !== StateCode.Free) ids.push(jobs.id[slot]!);
    for (const id of ids) this.applyDelete(id);
  }

  /** A live job as the binlog's compaction copies it: its record and body (without the CRLF). */
  /** Memory the jobs' records and bodies take (what maxJobsBytes bounds). */
  get jobsBytes(): number {
    return this.table.jobsBytes;
  }

  jobSource(id: number): { record: JobRecord; body: Buffer; movingTo?: string } | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const bodyWithCrlf = job.bodyWithCrlf;
    const body = bodyWithCrlf.subarray(0, bodyWithCrlf.length - 2);
    const moving = this.moves.of(id);
    if (moving) return { record: moving.record, body, movingTo: moving.dest };
    return { record: job.toRecord(), body };
  }

  /**
   * A new journal takes over (a standby promoted, a primary stepping down): ids are granted by it
   * from now on, so the ceiling granted by the previous one no longer counts.
   */
  attachJournal(journal: Journal): void {
    this.journal = journal;
    this.idCeiling = 0;
  }

  /** The next id handed out is at least n (and in this node's residue class). */
  setNextId(n: number): void {
    while (this.nextId < n)
      this.nextId += this.idStride * Math.max(1, Math.floor((n - this.nextId) / this.idStride));
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The job leaves every structure and the table; its tube may go. */
  private removeJob(job: number): void {
    const tube = this.place.tubeOf(job);
    this.place.detach(job);
    this.moves.unhide(job);
    this.table.remove(job); // other jobs may change slots now
    this.dropTubeIfUnused(tube);
  }

  /** A detached job takes the state its record gives, with replay's rules (see applyRecord). */
  private placeAsLogged(job: number, record: JobRecord): void {
    if (record.state === JobState.Buried) this.place.addBuried(job);
    else if (record.state === JobState.Delayed && record.deadlineAtMs > this.clock.nowMs()) {
      this.table.deadlineAtMs[job] = record.deadlineAtMs;
      this.place.addDelayed(job);
    } else {
      this.place.makeReady(job);
      this.waits.wakeTubes([this.place.tubeOf(job)]);
    }
  }

  /** The next id, or 0 when the journal cannot grant a ceiling covering it (nothing is consumed). */
  private allocateId(): number {
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

  private watchTube(s: Session, tube: Tube): void {
    s.watched.push(tube);
    tube.watchingCount++;
    s.trackWatch(tube);
  }

  private setPaused(tube: Tube, paused: boolean): void {
    if (!paused) tube.pauseMs = 0;
    if (tube.paused === paused) return;
    tube.paused = paused;
    tube.topChanged();
  }

  private dropTubeIfUnused(tube: Tube): void {
    if (tube.inUse || !this.registry.drop(tube)) return;
    this.pauseHeap.remove(tube);
    this.counts.tubes--;
  }

  /** The slot of job `id` if `s` holds it reserved, else NO_JOB. */
  private ownJob(s: Session, id: number): number {
    const job = this.table.slotOf(id);
    return job !== NO_JOB && this.holds(s, job) ? job : NO_JOB;
  }

  private holds(s: Session, job: number): boolean {
    return this.table.reservedBy[job] === s.id;
  }

  private viewOrNone(job: number): Job | undefined {
    return job === NO_JOB ? undefined : this.view(job);
  }

  /** One buried or delayed job → ready. Journal: a state record; if it cannot be logged the job stays. */
  private kickOne(job: number): boolean {
    const record = this.view(job).toRecord();
    record.state = JobState.Ready;
    record.deadlineAtMs = 0;
    record.kicks++;
    const seq = this.journal.logUpdate(record);
    if (seq === null) return false;
    this.lastJournalSeq = seq;
    this.place.detach(job);
    this.table.bump(job, 'kicks');
    this.place.makeReady(job);
    this.waits.wakeTubes([this.place.tubeOf(job)]);
    return true;
  }
}
