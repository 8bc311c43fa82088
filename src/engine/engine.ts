/**
 * The queue engine: jobs, tubes, reservations and time. Pure and synchronous — no I/O, no timers.
 * The server calls one method per command and `tick()` whenever the deadline it returned arrives
 * (beanstalkd's prottick). Outcomes are protocol words returned as values.
 *
 * Cost per command: heap operations are O(log n) in the jobs of one tube; reserve scans only the
 * session's own watch list; nothing walks all tubes or all jobs. Global figures are kept current
 * incrementally (see EngineCounts).
 */
import { JobCommands } from './job-commands';
import { NO_JOB, StateCode } from './job-table';
import { type ImportKey, type JobRecord, JobState, type Journal } from './journal';
import { Session, type WaitOutcome } from './session';
import type { Tube } from './tube';

export type { EngineOptions } from './engine-core';
export type { ImportResult, OutOfMemoryReason, PutResult } from './job-commands';

export class Engine extends JobCommands {
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
      this.waits.wakeTube(tube);
      return 'PAUSED';
    }
    this.setPaused(tube, true);
    tube.pauseMs = delayMs;
    tube.unpauseAtMs = this.clock.nowMs() + delayMs;
    this.pauseHeap.push(tube);
    return 'PAUSED';
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
   * full record was in a segment the copy did not include, as in replay). True when the record
   * made the job (it was unknown).
   */
  applyRecord(record: JobRecord, body: Buffer | undefined, movingTo?: string): boolean {
    const job = this.table.slotOf(record.id);
    if (job === NO_JOB) {
      if (body === undefined) return false;
      this.restoreJob(record, body, movingTo);
      return true;
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
      return false;
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
    if (!moves) return false;
    jobs.pri[job] = record.pri;
    if (code === StateCode.Buried) this.place.addBuried(job);
    else if (code === StateCode.Delayed) {
      jobs.deadlineAtMs[job] = deadlineAtMs;
      this.place.addDelayed(job);
    } else {
      this.place.makeReady(job);
      this.waits.wakeTubes([this.place.tubeOf(job)]);
    }
    return false;
  }

  /**
   * A delete record applied on a standby: the job is gone (nothing when it is unknown). Its tube's
   * cmd-delete counts it as the primary's did, unless the job was moving (x-move-done's delete).
   */
  applyDelete(id: number): void {
    const job = this.table.slotOf(id);
    if (job === NO_JOB) return;
    if (this.table.state[job] !== StateCode.Moving) this.place.tubeOf(job).cmdDelete++;
    this.removeJob(job);
  }

  /** A standby applied a job its primary put into `tube` (replication): total-jobs counts it. */
  countMade(tube: string): void {
    const t = this.registry.find(tube);
    if (t) t.totalJobs++;
    this.counts.totalJobs++;
  }

  /**
   * A new term began (a primary's start or promotion): total-jobs and cmd-delete count from zero,
   * on the primary as on its standbys, as beanstalkd's count from its start (docs/replication.md).
   */
  resetTermCounts(): void {
    for (const t of this.registry.list) {
      t.totalJobs = 0;
      t.cmdDelete = 0;
    }
    this.counts.totalJobs = 0;
  }

  /** A restarted standby's counters, as its log tells them (binlog/term-tally.ts). */
  restoreTermCounts(totalJobs: number, tubes: Iterable<[string, { made: number; deleted: number }]>): void {
    this.resetTermCounts();
    this.counts.totalJobs = totalJobs;
    for (const [name, c] of tubes) {
      const t = this.registry.find(name);
      if (t === undefined) continue;
      t.totalJobs = c.made;
      t.cmdDelete = c.deleted;
    }
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
    for (const id of ids) this.removeJob(this.table.slotOf(id));
  }

  /** Memory the jobs' records and bodies take (what maxJobsBytes bounds). */
  get jobsBytes(): number {
    return this.table.jobsBytes;
  }

  /** A live job as the binlog's compaction copies it: its record and body (without the CRLF). */
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
}
