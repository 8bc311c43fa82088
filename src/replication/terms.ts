/**
 * Term history and the handshake's decision (docs/replication.md, "The handshake", "Terms").
 *
 * Every segment starts with a start record carrying the term of the primary that wrote it, so a log
 * knows "term T began at LSN X" for every term in its retained segments. A standby describes its
 * log by (last term, last LSN); the primary answers with Kafka's leader-epoch rule: T' = the largest
 * term ≤ the standby's last term that the primary knows, E = where T' ended on the primary. If the
 * standby's log goes past E, or ends in a term the primary never had, it is cut to
 * min(E, where T' ends in the standby's own log) — everything after that was never confirmed.
 */

/** The first LSN of a term in a log (terms ascending). */
export interface TermStart {
  term: number;
  firstLsn: number;
}

/** Adds a segment's start record to the history (consecutive segments of one term collapse). */
export function noteTermStart(history: TermStart[], term: number, firstLsn: number): void {
  const last = history[history.length - 1];
  if (last !== undefined && last.term >= term) return;
  history.push({ term, firstLsn });
}

/** The largest term ≤ `term` in the history, or undefined when the history starts above it. */
export function largestTermAtMost(history: readonly TermStart[], term: number): TermStart | undefined {
  let found: TermStart | undefined;
  for (const t of history) {
    if (t.term > term) break;
    found = t;
  }
  return found;
}

/** The last LSN of `term` in a log whose last LSN is `lastLsn` (term must be in the history). */
export function termEnd(history: readonly TermStart[], term: number, lastLsn: number): number {
  for (const t of history) if (t.term > term) return t.firstLsn - 1;
  return lastLsn;
}

/** What the standby says about its log in `x-replicate`. */
export interface StandbyPosition {
  lastTerm: number;
  lastLsn: number;
}

/** What the primary knows of its own log. */
export interface PrimaryLog {
  history: readonly TermStart[];
  /** LSN of the first record of the oldest retained segment. */
  oldestLsn: number;
  lastLsn: number;
}

export type HandshakeDecision =
  | { kind: 'full-copy'; reason: string }
  | { kind: 'truncate'; term: number; lsn: number }
  /** Stream from lastLsn + 1 (the caller still checks the physical position). */
  | { kind: 'stream' };

export function decideHandshake(primary: PrimaryLog, standby: StandbyPosition): HandshakeDecision {
  if (standby.lastLsn === 0) return { kind: 'full-copy', reason: 'the standby has no log' };
  const t = largestTermAtMost(primary.history, standby.lastTerm);
  if (t === undefined) {
    return {
      kind: 'full-copy',
      reason: `the standby's last term ${standby.lastTerm} is older than every retained segment`,
    };
  }
  if (t.term === standby.lastTerm && standby.lastLsn < t.firstLsn && t !== primary.history[0]) {
    return { kind: 'full-copy', reason: `term ${t.term} began at LSN ${t.firstLsn} here, the logs disagree` };
  }
  const end = termEnd(primary.history, t.term, primary.lastLsn);
  if (t.term !== standby.lastTerm || standby.lastLsn > end)
    return { kind: 'truncate', term: t.term, lsn: end };
  if (standby.lastLsn + 1 < primary.oldestLsn) {
    return {
      kind: 'full-copy',
      reason: `LSN ${standby.lastLsn + 1} is no longer retained (oldest ${primary.oldestLsn})`,
    };
  }
  return { kind: 'stream' };
}

/**
 * Where a standby cuts its log on `TRUNCATE term lsn`: after min(lsn, the end of `term` in its own
 * log) — records of a later term of its own were never on the primary.
 */
export function truncationPoint(own: PrimaryLog, term: number, lsn: number): number {
  const t = largestTermAtMost(own.history, term);
  if (t === undefined) return 0;
  return Math.min(lsn, termEnd(own.history, t.term, own.lastLsn));
}

/** Raft's "at least as up to date": compares (last term, last LSN). */
export function compareLogs(a: StandbyPosition, b: StandbyPosition): number {
  return a.lastTerm !== b.lastTerm ? a.lastTerm - b.lastTerm : a.lastLsn - b.lastLsn;
}
