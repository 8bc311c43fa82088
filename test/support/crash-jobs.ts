/**
 * What the crash ledger (crash-ledger.ts) knows of a put and of a job: the durable state a restart
 * must bring a job back in, the puts still waiting for an id, the id codec of a target.
 */
/** What a restart must bring a job back as: what the log holds, never a reservation. */
export const Durable = {
  Absent: 'absent',
  Ready: 'ready',
  Delayed: 'delayed',
  Buried: 'buried',
  Deleted: 'deleted',
} as const;
export type Durable = (typeof Durable)[keyof typeof Durable];

export interface Outcome {
  state: Durable;
  pri: number;
  /** How the ledger came to expect it, for messages: `put #12`, `release by c3`. */
  cause: string;
}

export interface PutEntry {
  /** Put number over the whole run (`put #n` in messages). */
  n: number;
  conn: string;
  round: number;
  node: number;
  tube: string;
  pri: number;
  delaySecs: number;
  body: Buffer;
  /**
   * sent: no reply yet; unknown: the reply never came (kill) or was INTERNAL_ERROR; refused: DRAINING
   * (nothing stored); lost: never answered and not found after the restart.
   */
  status: 'sent' | 'inserted' | 'unknown' | 'refused' | 'lost';
  id: number | undefined;
}

export interface JobEntry {
  id: number;
  node: number;
  put: PutEntry;
  /** The state as of the latest acknowledged change (Absent while not even the put is). */
  acked: Outcome;
  ackedSeq: number;
  /** Changes sent and not acknowledged, in the order sent (the put itself is seq 0). */
  pending: { seq: number; outcome: Outcome }[];
  nextSeq: number;
  /** With unloggedReleases: the latest acknowledged state that the target writes to its log. */
  lastLogged: Outcome;
  reservedBy: string | undefined;
  /** A connection picked it (buried) to kick or delete. */
  claimed: boolean;
  /** A violation was reported for it: later checks leave it alone. */
  poisoned: boolean;
  /** Found absent after a restart where that was allowed: its id must never come back. */
  gone: boolean;
}

/** A change sent on a job, awaiting its reply word. */
export interface SentChange {
  job: JobEntry;
  seq: number;
  command: string;
  expect: string;
  conn: string;
}

/** A job as a restart shows it (peek + stats-job). */
export interface FoundJob {
  id: number;
  body: Buffer;
  tube: string;
  state: string;
  pri: number;
}

export interface Violation {
  round: number;
  text: string;
}

/** Client-visible ids vs (node, node-local id): the identity for one node, the proxy's codec else. */
export interface IdCodec {
  split(id: number): { node: number; local: number };
  join(node: number, local: number): number;
}

export const singleNodeIds: IdCodec = {
  split: (id) => ({ node: 0, local: id }),
  join: (_node, local) => local,
};

export function initial(put: PutEntry): Outcome {
  const state = put.delaySecs > 0 ? Durable.Delayed : Durable.Ready;
  return { state, pri: put.pri, cause: `put #${put.n}` };
}

export function describeOutcome(o: Outcome): string {
  return o.state === Durable.Deleted || o.state === Durable.Absent
    ? `${o.state} (${o.cause})`
    : `${o.state} pri ${o.pri} (${o.cause})`;
}

/** Does a job found as (state, pri) fit the expectation? A delayed job may have become ready. */
export function fits(o: Outcome, state: string, pri: number): boolean {
  if (o.pri !== pri) return false;
  return o.state === state || (o.state === Durable.Delayed && state === Durable.Ready);
}

export function newPut(
  n: number,
  conn: string,
  round: number,
  node: number,
  tube: string,
  pri: number,
  delaySecs: number,
  body: Buffer,
): PutEntry {
  return { n, conn, round, node, tube, pri, delaySecs, body, status: 'sent', id: undefined };
}

export function newJob(id: number, node: number, put: PutEntry, acked: Outcome, ackedSeq: number): JobEntry {
  put.id = id;
  return {
    id,
    node,
    put,
    acked,
    ackedSeq,
    pending: [],
    nextSeq: 1,
    lastLogged: initial(put),
    reservedBy: undefined,
    claimed: false,
    poisoned: false,
    gone: false,
  };
}

/** The job belongs to `put` after all (an equal body): what depends on its put follows. */
export function setPut(job: JobEntry, put: PutEntry): void {
  job.put = put;
  put.id = job.id;
  for (const p of job.pending) if (p.seq === 0) p.outcome = initial(put);
  if (job.ackedSeq <= 0) job.lastLogged = initial(put);
}

/** Why a RESERVED of this job by conn, with this body, is wrong; undefined when it is fine. */
export function reserveProblem(job: JobEntry, conn: string, body: Buffer): string | undefined {
  const id = job.id;
  if (job.gone || job.acked.state === Durable.Deleted)
    return `reserved ${id}, whose delete had been acknowledged (put #${job.put.n}; ${describeOutcome(job.acked)})`;
  if (!body.equals(job.put.body))
    return `reserved ${id}: body differs from what was put (${body.length} bytes, put #${job.put.n} had ${job.put.body.length})`;
  if (job.reservedBy !== undefined)
    return `reserved ${id} by ${conn} while ${job.reservedBy} holds it (put #${job.put.n})`;
  if (job.acked.state === Durable.Buried && job.pending.length === 0)
    return `reserved ${id}, which is buried (${describeOutcome(job.acked)})`;
  return undefined;
}

/** The put's INSERTED came: its outcome is acknowledged unless a later change already was. */
export function ackPut(job: JobEntry): void {
  job.pending = job.pending.filter((p) => p.seq !== 0);
  if (job.ackedSeq < 0) {
    job.acked = { ...initial(job.put), cause: `put #${job.put.n}, acknowledged` };
    job.ackedSeq = 0;
  }
}

/**
 * Change `seq` was acknowledged: it is the job's state now (unless a later one already was), and
 * earlier unanswered ones are settled — a later change could only be made once this one had taken
 * effect. `unlogged` (a target that does not log it): a restart may still bring back the state
 * last logged. Returns false when nothing changed.
 */
export function acknowledge(job: JobEntry, seq: number, unlogged: boolean): boolean {
  const entry = job.pending.find((p) => p.seq === seq);
  if (entry === undefined || seq < job.ackedSeq) return false;
  job.acked = { ...entry.outcome, cause: `${entry.outcome.cause}, acknowledged` };
  job.ackedSeq = seq;
  job.pending = job.pending.filter((p) => p.seq > seq);
  if (unlogged && entry.outcome.state === Durable.Ready) {
    const logged = job.lastLogged;
    job.pending.push({
      seq,
      outcome: { ...logged, cause: `${logged.cause}; later releases are not logged` },
    });
  } else {
    job.lastLogged = job.acked;
  }
  return true;
}

/** Body and tube of a found job against its put (empty: they match). */
export function differences(put: PutEntry, f: FoundJob): string[] {
  const diffs: string[] = [];
  if (!f.body.equals(put.body)) diffs.push(`body ${f.body.length} bytes != ${put.body.length} put`);
  if (f.tube !== put.tube) diffs.push(`tube '${f.tube}' != '${put.tube}'`);
  return diffs;
}

export function priDiff(job: JobEntry, f: FoundJob): string[] {
  return f.pri === job.acked.pri ? [] : [`pri ${f.pri} != ${job.acked.pri}`];
}

/** What became of a job whose id was handed out again, for the message. */
export function fate(job: JobEntry): string {
  if (job.acked.state === Durable.Deleted) return 'deleted (acknowledged)';
  if (job.gone) return 'lost in a crash before its INSERTED';
  if (job.put.status !== 'inserted') return 'seen in RESERVED before the kill, its INSERTED never came';
  return 'still present';
}

/** Puts without an id yet, by body: the candidates for an id that a RESERVED or a restart shows. */
export class UnboundPuts {
  private readonly byBody = new Map<string, PutEntry[]>();

  add(put: PutEntry): void {
    const key = put.body.toString('latin1');
    const list = this.byBody.get(key);
    if (list) list.push(put);
    else this.byBody.set(key, [put]);
  }

  drop(put: PutEntry): void {
    const key = put.body.toString('latin1');
    const list = this.byBody.get(key);
    if (!list) return;
    const at = list.indexOf(put);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.byBody.delete(key);
  }

  /** The oldest unanswered put of `node` with this body (and passing `accept`); the caller binds it. */
  take(
    body: Buffer,
    node: number,
    accept: (p: PutEntry) => boolean = (p) => p.status === 'sent' || p.status === 'unknown',
  ): PutEntry | undefined {
    const list = this.byBody.get(body.toString('latin1'));
    return list?.find((p) => p.node === node && p.id === undefined && accept(p));
  }

  *onNode(node: number): Generator<PutEntry> {
    for (const list of this.byBody.values()) for (const p of list) if (p.node === node) yield p;
  }

  /** Removes and returns every put of node. */
  removeNode(node: number): PutEntry[] {
    const removed = [...this.onNode(node)];
    for (const p of removed) this.drop(p);
    return removed;
  }
}
