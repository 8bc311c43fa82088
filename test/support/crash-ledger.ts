/**
 * The crash harness's ledger (crash-harness.ts): every put sent, every id a client was ever given
 * (INSERTED) or shown (RESERVED, FOUND, stats-job) with the put it belongs to, and every change to a
 * job as last acknowledged. Checked while the traffic runs and after each restart (crash-probe.ts):
 *
 * - no id is ever handed out twice over the whole history, and after a restart every new id is above
 *   every id any client saw before it;
 * - no acknowledged delete comes back;
 * - every acknowledged put is present with its body, tube, priority and state as last acknowledged
 *   (a delayed job may have become ready, a reserved one comes back ready); a change whose reply
 *   never came (the kill) may or may not have happened; one the proxy refused with NOT_FOUND after
 *   the job's node was struck did not happen (its holder's reservation ended with the node);
 * - no job appears that no put could have produced.
 *
 * A violation is recorded (with the round, the put numbers and what differs), never thrown, so a
 * run counts every failing round; the job it concerns is then left out of later checks, so one
 * fault is reported once. Puts whose INSERTED was not seen are bound to their id by their body when a
 * RESERVED or a restart shows it; identical bodies (the empty ones) are interchangeable until then.
 */
import {
  acknowledge,
  ackPut,
  Durable,
  describeOutcome,
  differences,
  type FoundJob,
  fate,
  fits,
  type IdCodec,
  initial,
  type JobEntry,
  newJob,
  newPut,
  type Outcome,
  type PutEntry,
  priDiff,
  reserveProblem,
  type SentChange,
  setPut,
  UnboundPuts,
  type Violation,
} from './crash-jobs';
import type { Rand } from './fuzz';

export {
  Durable,
  type FoundJob,
  type IdCodec,
  type PutEntry,
  singleNodeIds,
  type Violation,
} from './crash-jobs';

/** A ledger's counters, all zero (a run's summary adds every round's ledger into one). */
export function emptyTotals() {
  return {
    puts: 0,
    inserted: 0,
    deleted: 0,
    changes: 0,
    sightings: 0,
    lostUnacknowledged: 0,
    refusedAfterKill: 0,
  };
}

export class CrashLedger {
  readonly violations: Violation[] = [];
  readonly failedRounds = new Set<number>();
  round = 0;
  private putCount = 0;
  private readonly jobs = new Map<number, JobEntry>();
  private readonly unbound = new UnboundPuts();
  /** Buried jobs no connection has claimed: what the 10 % kick-job/delete loops pick from. */
  private readonly buried: JobEntry[] = [];
  /** Per node: the highest local id any client saw, and that value at the node's latest restart. */
  private readonly maxSeen: number[];
  private readonly floor: number[];
  private readonly minSeen: number[];
  /** Nodes told to stop (SIGTERM): they drain, so puts may be answered DRAINING. */
  private readonly stopping = new Set<number>();
  /**
   * Nodes struck (stopped or killed) this round: the proxy answers NOT_FOUND, without touching the
   * job, to a delete/release/bury by a client whose reservation ended with its node connection
   * (docs/failover.md), so such a change did not happen.
   */
  private readonly struck = new Set<number>();
  /** Nodes whose current life already broke the floor (one report per life: the rest follow from it). */
  private readonly floorBroken = new Set<number>();
  /** Counters for the summary. */
  readonly totals = emptyTotals();

  /**
   * `unloggedReleases`: the target does not log `release <id> <pri> 0` (beanstalkd), so after a
   * restart the job may also be as it was before that release.
   */
  constructor(
    readonly codec: IdCodec,
    private readonly nodeOfTube: (tube: string) => number,
    nodes: number,
    private readonly unloggedReleases = false,
  ) {
    this.maxSeen = new Array<number>(nodes).fill(0);
    this.floor = new Array<number>(nodes).fill(0);
    this.minSeen = new Array<number>(nodes).fill(Number.POSITIVE_INFINITY);
  }

  violation(text: string): void {
    this.violations.push({ round: this.round, text });
    this.failedRounds.add(this.round);
  }

  /**
   * The local ids of node that a job can hold now: from the lowest id ever seen to the highest, plus
   * one id for each put to it that was never answered (ids within one life are consecutive, so
   * those lie just above; the probe's count check proves nothing lies elsewhere).
   */
  possibleIds(node: number): { min: number; max: number } {
    const unanswered = [...this.unbound.onNode(node)].length;
    const min = Math.min(this.minSeen[node] as number, (this.maxSeen[node] as number) + 1);
    return { min, max: (this.maxSeen[node] as number) + unanswered };
  }

  // ---- traffic --------------------------------------------------------------------------------

  putSent(conn: string, tube: string, pri: number, delaySecs: number, body: Buffer): PutEntry {
    const put = newPut(++this.putCount, conn, this.round, this.nodeOfTube(tube), tube, pri, delaySecs, body);
    this.unbound.add(put);
    this.totals.puts++;
    return put;
  }

  /** The put's reply line, or undefined when none came (connection gone) or it was INTERNAL_ERROR. */
  putReplied(put: PutEntry, line: string | undefined): void {
    const m = line === undefined ? null : /^INSERTED (\d+)$/.exec(line);
    if (line === 'DRAINING' && this.stopping.has(put.node)) {
      put.status = 'refused';
      if (put.id !== undefined) this.moveSighting(put);
      this.unbound.drop(put);
      return;
    }
    if (!m) {
      if (line !== undefined && line !== 'INTERNAL_ERROR')
        this.violation(`put #${put.n} (${put.conn}): answered '${line}'`);
      if (put.status === 'sent') put.status = 'unknown';
      return;
    }
    const id = Number(m[1]);
    put.status = 'inserted';
    this.totals.inserted++;
    if (put.id !== undefined && put.id !== id && !this.uncross(put, id)) this.moveSighting(put);
    const job = this.jobs.get(id);
    if (job === undefined) {
      this.checkNewId(id, `put #${put.n} (${put.conn}) answered INSERTED ${id}`);
      this.bind(id, put, { state: Durable.Absent, pri: put.pri, cause: '' }, -1);
      ackPut(this.jobs.get(id) as JobEntry);
      return;
    }
    if (job.put !== put && !this.rebind(job, put)) {
      this.violation(
        `id ${id} handed out for put #${put.n} (${put.conn}) but it belonged to put #${job.put.n}, ${fate(job)}`,
      );
      job.poisoned = true;
      put.id = id;
      return;
    }
    if (!job.poisoned) ackPut(job);
  }

  /** A RESERVED: returns the job to act on, or undefined when it is not one the ledger can follow. */
  reserved(conn: string, id: number, body: Buffer): JobEntry | undefined {
    this.totals.sightings++;
    let job = this.jobs.get(id);
    if (job === undefined) {
      const put = this.unbound.take(body, this.codec.split(id).node);
      if (put === undefined) {
        this.violation(`reserved ${id}: no put could have produced it (${body.length} bytes)`);
        this.poisonedPlaceholder(id, body);
        return undefined;
      }
      this.checkNewId(id, `reserved ${id} (put #${put.n}, not yet answered)`);
      job = this.bind(id, put, { state: Durable.Absent, pri: put.pri, cause: 'put not acknowledged' }, -1);
      job.pending.push({ seq: 0, outcome: initial(put) });
    }
    if (job.poisoned) return undefined;
    const problem = reserveProblem(job, conn, body);
    if (problem !== undefined) {
      this.violation(problem);
      job.poisoned = true;
      return undefined;
    }
    job.reservedBy = conn;
    return job;
  }

  /** A change sent on a job this connection holds (reserved) or claimed (buried). */
  changeSent(
    job: JobEntry,
    conn: string,
    command: string,
    expect: string,
    state: Durable,
    pri: number,
  ): SentChange {
    const seq = job.nextSeq++;
    job.pending.push({ seq, outcome: { state, pri, cause: `${command} by ${conn} in round ${this.round}` } });
    job.reservedBy = undefined;
    job.claimed = false;
    return { job, seq, command, expect, conn };
  }

  /** The change's reply line, or undefined when none came. */
  changeReplied(change: SentChange, line: string | undefined): void {
    const { job, seq } = change;
    if (line === undefined || line === 'INTERNAL_ERROR' || job.poisoned) return;
    if (line === 'NOT_FOUND' && this.struck.has(job.node) && change.expect !== 'KICKED') {
      job.pending = job.pending.filter((p) => p.seq !== seq);
      this.totals.refusedAfterKill++;
      return;
    }
    if (line !== change.expect) {
      this.violation(`${change.command} (${change.conn}, job of put #${job.put.n}): answered '${line}'`);
      job.poisoned = true;
      return;
    }
    this.totals.changes++;
    if (line === 'DELETED') this.totals.deleted++;
    const unlogged = this.unloggedReleases && line === 'RELEASED';
    if (acknowledge(job, seq, unlogged) && job.acked.state === Durable.Buried && job.pending.length === 0)
      this.buried.push(job);
  }

  /** A buried job for a kick-job/delete loop, removed from the pool (claimed), or undefined. */
  claimBuried(rand: Rand): JobEntry | undefined {
    while (this.buried.length > 0) {
      const at = rand(this.buried.length);
      const job = this.buried[at] as JobEntry;
      this.buried[at] = this.buried[this.buried.length - 1] as JobEntry;
      this.buried.pop();
      const stillBuried = job.acked.state === Durable.Buried && job.pending.length === 0;
      if (stillBuried && !job.poisoned && !job.claimed && !job.gone) {
        job.claimed = true;
        return job;
      }
    }
    return undefined;
  }

  // ---- restarts -------------------------------------------------------------------------------

  /** The round's victim is about to be stopped or killed: its clients' reservations end with it. */
  nodeStruck(node: number): void {
    this.struck.add(node);
  }

  /** The node was sent SIGTERM: it drains (puts answered DRAINING) and stops, unless killed first. */
  nodeStopping(node: number): void {
    this.stopping.add(node);
  }

  /** The node was killed: its connections are gone, their replies will never come. */
  nodeKilled(node: number): void {
    for (const put of this.unbound.onNode(node)) if (put.status === 'sent') put.status = 'unknown';
    this.floor[node] = this.maxSeen[node] as number;
    this.floorBroken.delete(node);
    this.stopping.delete(node);
  }

  /** The round's connections are closed: no reservation and no claim survives them. */
  connectionsClosed(): void {
    this.struck.clear();
    for (const job of this.jobs.values()) {
      job.reservedBy = undefined;
      job.claimed = false;
    }
    this.buried.length = 0;
    for (const job of this.jobs.values())
      if (!job.gone && !job.poisoned && job.acked.state === Durable.Buried && job.pending.length === 0)
        this.buried.push(job);
  }

  /**
   * After a restart: `found` is every job `node` holds (peek + stats-job of every id that can exist).
   * Every job of the ledger on that node is accounted for; what is found and unknown to the ledger
   * must be an unanswered put; unanswered puts not found are lost (allowed: never acknowledged).
   */
  reconcile(node: number, found: Map<number, FoundJob>): void {
    for (const job of this.jobs.values()) {
      if (job.node !== node || job.gone) continue;
      const f = found.get(job.id);
      found.delete(job.id);
      if (!job.poisoned) this.reconcileJob(job, f);
    }
    for (const f of found.values()) this.reconcileStranger(node, f);
    for (const put of this.unbound.removeNode(node)) {
      put.status = 'lost';
      this.totals.lostUnacknowledged++;
    }
    this.connectionsClosed();
  }

  private reconcileJob(job: JobEntry, f: FoundJob | undefined): void {
    const options = [job.acked, ...job.pending.map((p) => p.outcome)];
    const mayBeAbsent = options.some((o) => o.state === Durable.Absent || o.state === Durable.Deleted);
    if (f === undefined) {
      if (!mayBeAbsent)
        this.violation(`job ${job.id}: lost (put #${job.put.n}; ${describeOutcome(job.acked)})`);
      if (job.put.status !== 'inserted' && job.put.status !== 'lost') {
        job.put.status = 'lost';
        this.totals.lostUnacknowledged++;
      }
      job.gone = true;
      return;
    }
    const diffs = differences(job.put, f);
    const deletedForSure = options.every((o) => o.state === Durable.Deleted);
    if (deletedForSure) this.violation(`job ${job.id}: resurrected (its delete was acknowledged)`);
    if (diffs.length > 0) {
      this.violation(`job ${job.id}: ${[...diffs, ...priDiff(job, f)].join(', ')} (put #${job.put.n})`);
    } else if (!deletedForSure && !options.some((o) => fits(o, f.state, f.pri))) {
      const expected = options.map(describeOutcome).join(' or ');
      const what =
        f.state === job.acked.state ? `pri ${f.pri} != ${job.acked.pri}` : `${f.state} pri ${f.pri}`;
      this.violation(`job ${job.id}: ${what}, expected ${expected} (put #${job.put.n})`);
    } else if (!deletedForSure) {
      this.adopt(job, f);
      return;
    }
    job.poisoned = true;
  }

  private adopt(job: JobEntry, f: FoundJob): void {
    const state = f.state as Durable;
    job.acked = { state, pri: f.pri, cause: `found after the restart of round ${this.round}` };
    job.ackedSeq = 0;
    job.nextSeq = 1;
    job.pending = [];
    job.lastLogged = job.acked;
    if (job.put.status !== 'inserted') {
      this.unbound.drop(job.put);
      job.put.status = 'inserted';
    }
  }

  /** A job the ledger does not know (or knows as gone): it must be an unanswered put of this node. */
  private reconcileStranger(node: number, f: FoundJob): void {
    const known = this.jobs.get(f.id);
    if (known !== undefined) {
      if (known.poisoned) return;
      const deleted = known.acked.state === Durable.Deleted;
      this.violation(
        deleted
          ? `job ${f.id}: resurrected (its delete was acknowledged; put #${known.put.n})`
          : `job ${f.id}: back after it was gone (put #${known.put.n}; ${describeOutcome(known.acked)})`,
      );
      known.poisoned = true;
      return;
    }
    const put = this.unbound.take(f.body, node, (p) => {
      const o = initial(p);
      return p.tube === f.tube && (p.status === 'unknown' || p.status === 'sent') && fits(o, f.state, f.pri);
    });
    if (put === undefined) {
      this.violation(
        `job ${f.id}: no put could have produced it (tube '${f.tube}', ${f.state} pri ${f.pri}, ${f.body.length} bytes)`,
      );
      this.poisonedPlaceholder(f.id, f.body);
      return;
    }
    const job = this.bind(f.id, put, initial(put), 0);
    this.adopt(job, f);
    this.noteSeen(f.id);
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  private bind(id: number, put: PutEntry, acked: Outcome, ackedSeq: number): JobEntry {
    const job = newJob(id, this.codec.split(id).node, put, acked, ackedSeq);
    this.jobs.set(id, job);
    this.unbound.drop(put);
    this.noteSeen(id);
    return job;
  }

  /**
   * INSERTED <id> for `put` while a RESERVED had bound id to another unanswered put with the same
   * body: the two are indistinguishable to a client, so the id goes to the one it was answered for.
   */
  private rebind(job: JobEntry, put: PutEntry): boolean {
    const other = job.put;
    if (other.status === 'inserted' || !other.body.equals(put.body) || job.poisoned) return false;
    other.id = undefined;
    this.unbound.add(other);
    setPut(job, put);
    this.unbound.drop(put);
    return true;
  }

  /**
   * `put`, bound by a RESERVED to another job, is answered with the id a RESERVED had bound to an
   * equal unanswered put: the two sightings were paired crosswise (a client cannot tell equal puts
   * apart), so each job goes to the other put. Returns false when that is not the case.
   */
  private uncross(put: PutEntry, id: number): boolean {
    const answered = this.jobs.get(id);
    const sighted = this.jobs.get(put.id as number);
    const other = answered?.put;
    if (answered === undefined || sighted === undefined || other === undefined) return false;
    if (sighted.put !== put || other === put || other.status === 'inserted') return false;
    if (answered.poisoned || sighted.poisoned || !other.body.equals(put.body)) return false;
    setPut(sighted, other);
    setPut(answered, put);
    return true;
  }

  /** `put` had been bound by a RESERVED to another id: hand that sighting to an equal unanswered put. */
  private moveSighting(put: PutEntry): void {
    const job = this.jobs.get(put.id as number);
    put.id = undefined;
    if (job === undefined || job.put !== put) return;
    const other = this.unbound.take(put.body, job.node);
    if (other === undefined) {
      this.violation(`job ${job.id}: reserved with the body of put #${put.n}, which was answered another id`);
      job.poisoned = true;
      return;
    }
    setPut(job, other);
  }

  /** A new id (first given or shown in this life of its node) must be above every id seen before. */
  private checkNewId(id: number, what: string): void {
    const { node, local } = this.codec.split(id);
    const floor = this.floor[node] as number;
    if (local <= floor && !this.floorBroken.has(node)) {
      this.floorBroken.add(node);
      const seen = this.codec.join(node, floor);
      this.violation(
        `${what}: not above id ${seen}, seen before the restart (ids must increase; later ids of this life not reported)`,
      );
    }
  }

  private noteSeen(id: number): void {
    const { node, local } = this.codec.split(id);
    if (local > (this.maxSeen[node] as number)) this.maxSeen[node] = local;
    if (local < (this.minSeen[node] as number)) this.minSeen[node] = local;
  }

  private poisonedPlaceholder(id: number, body: Buffer): void {
    const put = newPut(0, '?', this.round, this.codec.split(id).node, '?', 0, 0, body);
    put.status = 'lost';
    const job = this.bind(id, put, { state: Durable.Absent, pri: 0, cause: 'unknown' }, 0);
    job.poisoned = true;
  }
}
