/**
 * The dashboard's picture of the cluster at one instant, as flat rows of scalars so that a diff is
 * "the fields that changed, per row key". The same shape goes to the browser (JSON) and to
 * `stalkd top`.
 *
 * Rates are per second over the last poll interval, rounded to 0.1, null until two samples exist.
 * `reservePerSec` of a tube is an estimate — beanstalkd counts no reserves per tube — of jobs taken
 * by workers: Δcurrent-jobs-reserved + Δcmd-delete. It is exact for the usual reserve → delete
 * flow, misses reserve → release cycles and counts deletes of unreserved jobs (clear). A node's
 * reserve rate is the sum over its tubes; its put rate is Δcmd-put.
 *
 * Rows are flat: scalars, and a node's history as arrays of numbers (compared element-wise, sent
 * whole when one changed).
 */

export interface NodeRow {
  key: string;
  index: number;
  name: string;
  address: string;
  kind: string;
  /** The proxy's view (its health probes). */
  up: boolean;
  /** The collector's own connection answered this poll. */
  reachable: boolean;
  /** Why not reachable (connection error), or ''. */
  error: string;
  version: string;
  uptimeSecs: number;
  draining: boolean;
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  tubes: number;
  connections: number;
  producers: number;
  workers: number;
  waiting: number;
  putPerSec: number | null;
  reservePerSec: number | null;
  /** Shards with replicas: each member with its role and lag, one text ('' without replicas). */
  members: string;
  /** In-sync standbys (-1 without replicas); 0 marks the shard: a failover has nothing to promote. */
  inSyncStandbys: number;
  /** The primary is failing now (a failover may follow). */
  failing: boolean;
  /** The last failover: `failover old → new (term T) at HH:MM:SS UTC`, or ''. */
  failover: string;
  /**
   * This node's part of the cluster's puts and reserves over the history window, and of its jobs
   * now, in percent (null while the cluster total is 0): node-history.ts.
   */
  putShare: number | null;
  reserveShare: number | null;
  jobShare: number | null;
  /** Jobs put and taken per history bucket, oldest first (the sparklines); bucket width in ms. */
  putHistory: number[];
  reserveHistory: number[];
  historyBucketMs: number;
}

export interface TubeRow {
  /** `<node index>/<tube>`: a tube can exist on several nodes (strays after a topology change). */
  key: string;
  name: string;
  node: number;
  owner: number;
  /** Found on a node that does not own it (jobs left behind). */
  stray: boolean;
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  totalJobs: number;
  using: number;
  watching: number;
  waiting: number;
  /** Seconds the tube was paused for (0 = not paused), and seconds left. */
  pauseSecs: number;
  pauseLeftSecs: number;
  putPerSec: number | null;
  reservePerSec: number | null;
  deletePerSec: number | null;
}

export interface Snapshot {
  seq: number;
  atMs: number;
  nodes: NodeRow[];
  tubes: TubeRow[];
  /** Tubes left out because of the per-node cap. */
  tubesNotShown: number;
}

type Row = NodeRow | TubeRow;

export interface RowChanges<R extends Row> {
  /** New rows whole; changed rows as `key` + the changed fields. */
  upsert: Array<Partial<R> & { key: string }>;
  remove: string[];
}

export interface SnapshotDiff {
  seq: number;
  atMs: number;
  nodes: RowChanges<NodeRow>;
  tubes: RowChanges<TubeRow>;
  tubesNotShown: number;
}

/** Fields are scalars or arrays of numbers (a node's history): arrays compare element by element. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((v, i) => v === b[i]);
}

function diffRows<R extends Row>(before: readonly R[], after: readonly R[]): RowChanges<R> {
  const old = new Map(before.map((r) => [r.key, r]));
  const upsert: Array<Partial<R> & { key: string }> = [];
  for (const row of after) {
    const prev = old.get(row.key);
    old.delete(row.key);
    if (!prev) {
      upsert.push(row);
      continue;
    }
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const field of Object.keys(row) as Array<keyof R & string>) {
      if (!sameValue(row[field], prev[field])) {
        changed[field] = row[field];
        any = true;
      }
    }
    if (any) upsert.push({ ...(changed as Partial<R>), key: row.key });
  }
  return { upsert, remove: [...old.keys()] };
}

export function diffSnapshots(before: Snapshot, after: Snapshot): SnapshotDiff {
  return {
    seq: after.seq,
    atMs: after.atMs,
    nodes: diffRows(before.nodes, after.nodes),
    tubes: diffRows(before.tubes, after.tubes),
    tubesNotShown: after.tubesNotShown,
  };
}

/** Applies a diff (as the browser does); used by tests and by `top`. */
export function applyDiff(base: Snapshot, diff: SnapshotDiff): Snapshot {
  return {
    seq: diff.seq,
    atMs: diff.atMs,
    nodes: applyRows(base.nodes, diff.nodes),
    tubes: applyRows(base.tubes, diff.tubes),
    tubesNotShown: diff.tubesNotShown,
  };
}

function applyRows<R extends Row>(rows: readonly R[], changes: RowChanges<R>): R[] {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  for (const key of changes.remove) byKey.delete(key);
  for (const patch of changes.upsert) byKey.set(patch.key, { ...byKey.get(patch.key), ...patch } as R);
  return [...byKey.values()];
}
