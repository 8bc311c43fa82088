/**
 * Jobs crossing nodes, exactly once (docs/migration.md, "Moving jobs"): the source's hidden
 * "moving" state and the destination's import keys.
 *
 * A move is three logged steps, each safe to repeat: `x-move-out ID DEST` hides the job on the
 * source (a Move record: no reserve, no peek-ready/-delayed/-buried, not counted as ready, delayed
 * or buried; `peek ID` and `stats-job ID` still show it, as `moving`); `x-import` on the destination
 * inserts it and remembers (origin node, origin id) → new id in the same full record, so an import
 * repeated after a lost reply answers the same id; `x-move-done ID` deletes it on the source. A
 * moving job stays moving across restarts and dropped connections until the move is done: `stalkd
 * migrate` finishes every one it finds (`x-list-moving`), so nothing is lost or duplicated whatever
 * moment the migrate process dies at.
 *
 * Import keys outlive their job by IMPORT_KEY_GRACE_MS: a migrate re-run within that time still
 * finds the earlier import. Past it the key is forgotten (memory and log stay bounded by the moves
 * of one grace period).
 */
import { type JobTable, StateCode } from './job-table';
import { type ImportKey, type JobRecord, JobState } from './journal';
import type { Tube } from './tube';

/** How long an import key is kept after its import: a day (docs/migration.md). */
export const IMPORT_KEY_GRACE_MS = 24 * 60 * 60 * 1000;

/** The states a job can be imported in, and moves from. */
export type MovableState = typeof JobState.Ready | typeof JobState.Delayed | typeof JobState.Buried;

export function isMovableState(state: string): state is MovableState {
  return state === JobState.Ready || state === JobState.Delayed || state === JobState.Buried;
}

/** A moving job: where to, and its record in the state it moves from (what the Move record holds). */
export interface Moving {
  dest: string;
  record: JobRecord;
}

const keyOf = (node: string, originId: number): string => `${node}\u0000${originId}`;

export class Moves {
  private readonly moving = new Map<number, Moving>();
  /** By keyOf(node, originId), oldest first (imports arrive in time order; see sweep). */
  private readonly imports = new Map<string, ImportKey>();
  /** Jobs deleted here by x-move-done, and inserted here by x-import, since start (metrics). */
  movedOut = 0;
  movedIn = 0;

  constructor(
    private readonly table: JobTable,
    private readonly tubeOf: (slot: number) => Tube,
  ) {}

  get movingCount(): number {
    return this.moving.size;
  }

  get importKeyCount(): number {
    return this.imports.size;
  }

  /** Job in `slot`, already out of every heap and list, becomes moving to `dest`. */
  hide(slot: number, record: JobRecord, dest: string): void {
    this.table.state[slot] = StateCode.Moving;
    this.table.deadlineAtMs[slot] = 0;
    this.tubeOf(slot).movingCount++;
    this.moving.set(record.id, { dest, record });
  }

  /** Job in `slot` stops moving (deleted, or placed again by the caller). */
  unhide(slot: number): void {
    const id = this.table.id[slot]!;
    if (!this.moving.delete(id)) return;
    this.tubeOf(slot).movingCount--;
  }

  of(id: number): Moving | undefined {
    return this.moving.get(id);
  }

  /** Ids of the moving jobs (x-list-moving), oldest move first. */
  ids(): number[] {
    return [...this.moving.keys()];
  }

  /** The key of an earlier import of (node, originId), if it is within its grace. */
  imported(node: string, originId: number, nowMs: number): ImportKey | undefined {
    this.sweep(nowMs);
    return this.imports.get(keyOf(node, originId));
  }

  /** An import happened (x-import, replay, a standby's apply). Keys past their grace are dropped. */
  remember(key: ImportKey, nowMs: number): void {
    if (key.atMs + IMPORT_KEY_GRACE_MS <= nowMs) return;
    const k = keyOf(key.node, key.originId);
    if (!this.imports.has(k)) this.imports.set(k, key);
  }

  /** Forgets keys past their grace, from the oldest on, stopping at the first one still kept. */
  private sweep(nowMs: number): void {
    for (const [k, key] of this.imports) {
      if (key.atMs + IMPORT_KEY_GRACE_MS > nowMs) return;
      this.imports.delete(k);
    }
  }
}
