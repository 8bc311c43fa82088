/**
 * The job commands: put and x-import, delete, release, bury, touch, kick, reserve and the peeks,
 * and a job's move to another node (x-move-out, x-move-done). Each returns its protocol outcome
 * as a value and logs through the journal before it changes anything the log must know.
 */
import { MIN_TTR_MS } from './constants';
import { EngineCore } from './engine-core';
import type { Job } from './job';
import { NO_JOB, StateCode } from './job-table';
import { type ImportKey, JobState, newJobRecord } from './journal';
import type { MovableState, Moving } from './moves';
import type { Session, WaitOutcome } from './session';
import type { Tube } from './tube';

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

export class JobCommands extends EngineCore {
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
   * x-put <tube> … → as put, into `tubeName` instead of the session's used tube (which stays as it
   * is): made for the put if it does not exist, dropped again if the put left it unused.
   */
  putInto(
    s: Session,
    tubeName: string,
    pri: number,
    delayMs: number,
    ttrMs: number,
    bodyWithCrlf: Buffer,
    bodyOk: boolean,
  ): PutResult {
    const tube = this.findOrMakeTube(tubeName);
    const result = this.insert(s, pri, delayMs, ttrMs, bodyWithCrlf, bodyOk, JobState.Ready, undefined, tube);
    this.dropTubeIfUnused(tube);
    return result;
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

  protected insert(
    s: Session,
    pri: number,
    delayMs: number,
    ttrMs: number,
    bodyWithCrlf: Buffer,
    bodyOk: boolean,
    state: MovableState,
    origin?: { node: string; originId: number },
    tube: Tube = s.used,
  ): PutResult {
    const id = this.allocateId();
    if (!bodyOk) return { word: 'EXPECTED_CRLF' };
    if (this.draining) return { word: 'DRAINING' };
    if (id === 0) return { word: 'OUT_OF_MEMORY', reason: 'binlog' };
    if (this.maxJobsBytes > 0 && this.table.jobsBytes + bodyWithCrlf.length > this.maxJobsBytes)
      return { word: 'OUT_OF_MEMORY', reason: 'memory' };
    const now = this.clock.nowMs();
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
      this.waits.wakeTube(tube);
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

  /** One buried or delayed job → ready. Journal: a state record; if it cannot be logged the job stays. */
  protected kickOne(job: number): boolean {
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
