/**
 * The log a replicated node's server and engine write to, whatever the member's role
 * (docs/replication.md, "Synchronous replication"). As a primary it is the Binlog, except that
 * `durableSeq()` is the composite durable LSN — min(local durable, K-th acknowledgement) — so the
 * server's existing gate holds every confirming reply until K standbys have the record too. As a
 * standby it refuses every change (the handlers answer NOT_PRIMARY before the engine is reached)
 * and has nothing to confirm. `freeze()` stops confirmations at once when the member learns of a
 * higher term: nothing more is confirmed under the old one.
 */
import type { Binlog } from '../binlog';
import type { FollowerLog } from '../binlog/follower-log';
import type { ImportKey, JobRecord } from '../engine/journal';
import type { DurableLog } from '../server/node-server';
import type { ReplicationSource } from './source';

interface FsyncObserver {
  onFsync(seconds: number): void;
}

export class MemberLog implements DurableLog {
  private binlog: Binlog | undefined;
  private follower: FollowerLog | undefined;
  private source: ReplicationSource | undefined;
  private frozenAt: number | undefined;
  private readonly listeners = new Set<() => void>();
  private offs: (() => void)[] = [];
  private fsyncObserver: FsyncObserver | undefined;

  constructor(private readonly onClose: () => Promise<void>) {}

  /** The member leads: `binlog` takes the writes, `source` the acknowledgements. */
  setPrimary(binlog: Binlog, source: ReplicationSource): void {
    this.detach();
    this.binlog = binlog;
    this.source = source;
    this.frozenAt = undefined;
    this.notifiedSeq = 0;
    binlog.setFsyncObserver(this.fsyncObserver);
    this.offs = [binlog.onDurable(() => this.notify()), source.onProgress(() => this.notify())];
  }

  /** The member follows (or looks for a primary): `follower` holds the log. */
  setFollower(follower: FollowerLog): void {
    this.detach();
    this.follower = follower;
    this.frozenAt = undefined;
    // A standby fsyncs its own log: stalkd_binlog_fsync_duration_seconds counts it as a primary's.
    follower.setFsyncObserver(this.fsyncObserver);
  }

  /** Confirmations stop where they are (a higher term is known: the member steps down). */
  freeze(): void {
    this.frozenAt ??= this.durableSeq();
  }

  get primary(): Binlog | undefined {
    return this.binlog;
  }

  get standbyLog(): FollowerLog | undefined {
    return this.follower;
  }

  /** The last record of whichever log is open, and what of it is durable on this disk. */
  position(): { lastTerm: number; lastLsn: number; durable: number } {
    const binlog = this.binlog;
    if (binlog) return { lastTerm: binlog.term, lastLsn: binlog.lastLsn(), durable: binlog.durableSeq() };
    const f = this.follower;
    if (f) return { ...f.position(), durable: f.durableSeq() };
    return { lastTerm: 0, lastLsn: 0, durable: 0 };
  }

  private detach(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.binlog?.setFsyncObserver(undefined);
    this.follower?.setFsyncObserver(undefined);
    this.binlog = undefined;
    this.follower = undefined;
    this.source = undefined;
  }

  /** The composite durable LSN listeners were last told of. */
  private notifiedSeq = 0;

  /**
   * Tells the listeners (the server releasing gated replies) when the composite durable LSN changed:
   * a local write or fsync that the standbys have not acknowledged yet, or an acknowledgement
   * ahead of the local disk, releases nothing, so it wakes no connection.
   */
  private notify(): void {
    const seq = this.durableSeq();
    // Not `<=`: leaving --standby-timeout-ms's alone mode may lower it, and each rise after must tell.
    if (seq === this.notifiedSeq) return;
    this.notifiedSeq = seq;
    for (const listener of this.listeners) listener();
  }

  // ---- Journal: only a primary writes ------------------------------------------------------------

  logPut(job: JobRecord, body: Buffer, origin?: ImportKey): number | null {
    return this.frozenAt === undefined && this.binlog ? this.binlog.logPut(job, body, origin) : null;
  }

  logMoveOut(job: JobRecord, dest: string): number | null {
    return this.frozenAt === undefined && this.binlog ? this.binlog.logMoveOut(job, dest) : null;
  }

  logUpdate(job: JobRecord): number | null {
    return this.frozenAt === undefined && this.binlog ? this.binlog.logUpdate(job) : null;
  }

  logDelete(jobId: number): number {
    return this.binlog ? this.binlog.logDelete(jobId) : 0;
  }

  reserveIds(id: number): number | null {
    return this.frozenAt === undefined && this.binlog ? this.binlog.reserveIds(id) : null;
  }

  // ---- DurableLog ----------------------------------------------------------------------------------

  flush(): void {
    this.binlog?.flush();
  }

  /** Primary: the composite durable LSN. Otherwise nothing waits (no change is made here). */
  durableSeq(): number {
    if (this.frozenAt !== undefined) return this.frozenAt;
    const binlog = this.binlog;
    if (binlog === undefined) return Number.POSITIVE_INFINITY;
    const local = binlog.durableSeq();
    return this.source ? this.source.confirmedLsn(local) : local;
  }

  onDurable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats() {
    const s = this.binlog?.stats() ?? this.follower?.stats();
    if (s === undefined) throw new Error('member log: no log open');
    return s;
  }

  fileOf(jobId: number): number {
    return this.binlog?.fileOf(jobId) ?? 0;
  }

  setFsyncObserver(observer: FsyncObserver | undefined): void {
    this.fsyncObserver = observer;
    this.binlog?.setFsyncObserver(observer);
    this.follower?.setFsyncObserver(observer);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
