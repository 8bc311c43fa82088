/**
 * The contract between the pure engine and a write-ahead log (src/binlog implements it).
 *
 * The engine calls these synchronously while it executes a command. A journal appends the record to
 * an in-memory batch and returns at once; durability is tracked by sequence numbers: every call
 * returns the sequence number of the record it wrote, and the server holds back any reply that
 * confirms the change until `durableSeq() >= seq` (group commit: many records, one fsync).
 *
 * Space: `logPut` must reserve room for the job's full record AND for one later state record (the
 * delete), so that a delete can never fail for lack of space. It returns `null` when the space cannot
 * be had (disk full): the engine then answers OUT_OF_MEMORY and keeps nothing.
 */
export const JobState = {
  Ready: 'ready',
  Reserved: 'reserved',
  Delayed: 'delayed',
  Buried: 'buried',
  /**
   * Being moved to another node (moves.ts): never in a record — a moving job is logged with the
   * state it moves from, in a Move record.
   */
  Moving: 'moving',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** Everything needed to rebuild one job after a restart. */
export interface JobRecord {
  id: number;
  tube: string;
  pri: number;
  /** The last delay given (put or release), ms. */
  delayMs: number;
  ttrMs: number;
  /**
   * Wall-clock creation time, ms since epoch: `age` survives restarts. In memory it keeps the
   * sub-millisecond fraction of Clock.preciseNowMs (cross-node FIFO); the binlog stores whole ms.
   */
  createdAtMs: number;
  /** For delayed jobs: absolute wall-clock time the job becomes ready. 0 otherwise. */
  deadlineAtMs: number;
  state: JobState;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
}

/**
 * The record of a job just put: ready, or delayed until nowMs + delayMs; no counts yet. Created at
 * `createdAtMs` (nowMs with its sub-millisecond fraction, Clock.preciseNowMs).
 */
export function newJobRecord(
  id: number,
  tube: string,
  pri: number,
  delayMs: number,
  ttrMs: number,
  nowMs: number,
  createdAtMs = nowMs,
): JobRecord {
  const delayed = delayMs > 0;
  return {
    id,
    tube,
    pri,
    delayMs,
    ttrMs,
    createdAtMs,
    deadlineAtMs: delayed ? nowMs + delayMs : 0,
    state: delayed ? JobState.Delayed : JobState.Ready,
    reserves: 0,
    timeouts: 0,
    releases: 0,
    buries: 0,
    kicks: 0,
  };
}

/**
 * A job imported from another node (x-import): origin node and its id there → the id here. Logged
 * with the job's full record and kept past the job's life (moves.ts, IMPORT_KEY_GRACE_MS), so a
 * repeated import answers the same id instead of making a second job.
 */
export interface ImportKey {
  node: string;
  originId: number;
  newId: number;
  /** When it was imported, ms since epoch: the grace counts from here. */
  atMs: number;
}

export interface Journal {
  /** A new job (full record: metadata + tube + body). Returns the record's seq, or null when no space. */
  logPut(job: JobRecord, body: Buffer, origin?: ImportKey): number | null;
  /**
   * The job (`job`: the state it moves from) is being moved to node `dest` (x-move-out): it stays
   * hidden until its delete. Returns the seq, or null when no space.
   */
  logMoveOut(job: JobRecord, dest: string): number | null;
  /**
   * A state change of a live job (bury, kick, release — with or without delay, so a new priority
   * survives). Returns the seq, or null when no space could be reserved for it.
   */
  logUpdate(job: JobRecord): number | null;
  /** The job is gone. Its space was reserved by logPut, so this cannot fail for space. */
  logDelete(jobId: number): number;
  /**
   * Ids up to the returned ceiling (≥ id) may be handed out: the journal has made sure a restart
   * goes on above it. null: that cannot be recorded now (the put answers OUT_OF_MEMORY).
   */
  reserveIds(id: number): number | null;
}

/** A journal that keeps nothing: the node without -b. */
export const nullJournal: Journal = {
  logPut: () => 0,
  logMoveOut: () => 0,
  logUpdate: () => 0,
  logDelete: () => 0,
  reserveIds: () => Number.MAX_SAFE_INTEGER,
};
