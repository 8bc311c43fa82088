/**
 * The write pipeline. Records are appended in memory while a command runs; `writeOut()` hands every
 * appended byte to the OS with one synchronous pwritev per segment. The server calls it before any
 * reply leaves the process (and a setImmediate catches records appended outside a request), so no
 * client can learn of a change — an id in RESERVED, a job in peek — that a crash of the process
 * could take back: the page cache survives a kill -9. This is beanstalkd's order too (it write()s
 * the record before replying); a write to the page cache costs microseconds.
 *
 * fsync stays off the event loop. In strict mode one fdatasync runs on the thread pool at a time and
 * covers everything written before it started; records written meanwhile wait for the next one, so
 * N concurrent writers share each fsync (group commit).
 *
 * What `durableLsn()` means per mode:
 *   Strict   (-f 0)  : written and fdatasynced (plus the directory after a new segment appeared).
 *   Interval (-f MS) : written (survives a process crash); fdatasynced at most MS ms later by a
 *                      timer, so the tail of a burst is synced too.
 *   Never    (-F)    : written; fsynced only by close().
 *
 * A failed write or fsync keeps every byte not yet known durable and rewrites it a second later
 * (after an fsync failure Linux may have dropped the dirty pages, so retrying the fsync alone is
 * not enough); nothing new is written before that rewrite succeeds, so the file never has a hole.
 */
import type { FileOps } from './file-ops';
import type { PendingWrite, Segment } from './segment';

export const SyncMode = { Strict: 'strict', Interval: 'interval', Never: 'never' } as const;
export type SyncMode = (typeof SyncMode)[keyof typeof SyncMode];

const RETRY_AFTER_MS = 1000;

/**
 * Resolves once no background work that `background` lists (unlinks, a preallocation) is in flight
 * and the writer is idle — each may start the other, so until both are quiet at once.
 */
export async function settle(
  writer: LogWriter,
  background: () => readonly (Promise<unknown> | undefined)[],
): Promise<void> {
  for (;;) {
    for (const work of background()) await work;
    await writer.idle();
    if (background().every((work) => work === undefined)) return;
  }
}

export interface WriterHooks {
  /** Runs before appended records are written: the place to append compaction copies. */
  beforeBatch(): void;
  /** Runs after each successful fsync step or idle write (durable/synced LSNs may have moved). */
  afterStep(): void;
  /** A write or fsync failed; it will be retried. */
  onFailure(err: Error): void;
  /** One fdatasync of a segment succeeded after `seconds` (the fsync-latency histogram). */
  onFsync?(seconds: number): void;
  /** Writes just handed to the OS, holding every record up to `lsn` (replication's live stream). */
  onWritten?(writes: readonly PendingWrite[], lsn: number): void;
}

export class LogWriter {
  /** LSN of the last record appended (set by the log). */
  appendedLsn: number;
  /** Every record up to this LSN has been handed to the OS. */
  writtenLsn: number;
  /** Every record up to this LSN has been fsynced. */
  syncedLsn: number;
  failure: Error | undefined;
  syncCount = 0;
  private readonly segments: Segment[] = [];
  /** Segments written since their last fdatasync started. */
  private readonly dirty = new Set<Segment>();
  /** Writes not yet covered by a successful fsync (rewritten after a failure). */
  private unsynced: PendingWrite[] = [];
  /** Writes to redo before anything new is written (after a failure). */
  private retry: PendingWrite[] = [];
  private scheduled = false;
  /** The fsync step on the thread pool, if one runs. */
  private syncing: Promise<void> | undefined;
  private syncRequested = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private lastSyncAtMs = 0;
  private notifiedLsn = -1;
  private readonly listeners = new Set<(lsn: number) => void>();

  constructor(
    private readonly ops: FileOps,
    private readonly dir: string,
    readonly mode: SyncMode,
    private readonly fsyncEveryMs: number,
    private readonly hooks: WriterHooks,
    startLsn: number,
  ) {
    this.appendedLsn = startLsn;
    this.writtenLsn = startLsn;
    this.syncedLsn = startLsn;
  }

  durableLsn(): number {
    return this.mode === SyncMode.Strict ? this.syncedLsn : this.writtenLsn;
  }

  /** LSN up to which a lost power supply cannot undo anything (what unlinking old segments needs). */
  safeLsn(): number {
    return this.mode === SyncMode.Never ? this.writtenLsn : this.syncedLsn;
  }

  onDurable(listener: (lsn: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A segment that will receive appends (the current one). */
  track(segment: Segment): void {
    this.segments.push(segment);
  }

  appended(lsn: number): void {
    this.appendedLsn = lsn;
    this.schedule();
  }

  /** True when records were appended that are not yet handed to the OS. */
  hasUnwritten(): boolean {
    return this.writtenLsn < this.appendedLsn || this.retry.length > 0;
  }

  requestSync(): void {
    this.syncRequested = true;
    this.schedule();
  }

  /** Runs writeOut (and whatever it starts) at the end of this event-loop turn. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Compaction copies are appended here, once per turn, not on every reply's flush.
      if (this.retryTimer === undefined) this.hooks.beforeBatch();
      if (this.writeOut()) this.hooks.afterStep();
    });
  }

  /**
   * Hands every appended record to the OS now (one synchronous pwritev per segment), then starts
   * what the mode asks: the strict fsync, the interval timer. Returns false while the disk fails
   * (the retry timer owns the pending bytes then).
   */
  writeOut(): boolean {
    if (this.retryTimer !== undefined) return false;
    const lsn = this.appendedLsn;
    if (lsn === this.writtenLsn && this.retry.length === 0) {
      this.startSync();
      return true;
    }
    const writes = this.retry.length > 0 ? [...this.retry, ...this.takeAll()] : this.takeAll();
    this.retry = [];
    try {
      for (const w of writes) {
        this.ops.writevSync(w.segment.fd, w.bufs, w.position);
        if (w.end > w.segment.flushed) w.segment.flushed = w.end;
        this.dirty.add(w.segment);
      }
    } catch (err) {
      this.fail(err as Error, writes);
      return false;
    }
    if (this.mode !== SyncMode.Never) for (const w of writes) this.unsynced.push(w);
    this.writtenLsn = lsn;
    if (writes.length > 0) this.hooks.onWritten?.(writes, lsn);
    this.failure = undefined;
    this.notify();
    this.startSync();
    return true;
  }

  /** Resolves once no write or fsync is scheduled or running. */
  async idle(): Promise<void> {
    while (this.scheduled || this.syncing !== undefined) {
      if (this.syncing !== undefined) await this.syncing;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Makes every record appended so far synced, blocking the event loop (a synchronous fdatasync):
   * for the rare moment a logged id ceiling must be on disk before an id can be handed out.
   * Returns false when the disk fails.
   */
  syncNow(): boolean {
    if (!this.writeOut()) return false;
    if (this.mode === SyncMode.Never || this.syncedLsn >= this.writtenLsn) return true;
    const lsn = this.writtenLsn;
    // Every open segment, not only `dirty`: an fsync step in flight has taken its segments out.
    const open = this.segments.filter((s) => !s.closed);
    try {
      for (const segment of open) this.ops.fdatasyncSync(segment.fd);
      if (open.some((s) => s.needsDirSync)) this.ops.fsyncDirSync(this.dir);
    } catch (err) {
      this.fail(err as Error, []);
      return false;
    }
    // The step in flight, if any, only ever moves syncedLsn forward when it returns.
    for (const segment of open) segment.needsDirSync = false;
    this.dirty.clear();
    this.unsynced = [];
    this.markSynced(lsn);
    return true;
  }

  /** Writes and fsyncs everything appended, whatever the mode. For close(). */
  async drain(): Promise<void> {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    for (let attempt = 0; ; attempt++) {
      await this.syncing;
      if (this.failure !== undefined && attempt > 1) throw this.failure;
      if (this.retryTimer !== undefined) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      }
      if (!this.writeOut()) continue;
      if (this.syncedLsn >= this.appendedLsn && this.dirty.size === 0 && !this.hasSealed()) return;
      this.syncRequested = true;
      this.startSync();
    }
  }

  private hasSealed(): boolean {
    return this.segments.some((s) => s.sealed);
  }

  /** A sealed segment whose bytes are all written (and synced unless -F): finishSealed closes it. */
  private finishable(s: Segment): boolean {
    return (
      s.sealed &&
      !s.hasPending() &&
      s.flushed === s.used &&
      (this.mode === SyncMode.Never || !this.dirty.has(s))
    );
  }

  private hasFinishable(): boolean {
    return this.segments.some((s) => this.finishable(s));
  }

  private takeAll(): PendingWrite[] {
    const writes: PendingWrite[] = [];
    for (const segment of this.segments) {
      const w = segment.take();
      if (w !== undefined) writes.push(w);
    }
    return writes;
  }

  /** Starts the asynchronous fsync step when the mode (or a request, or a sealed segment) asks for it. */
  private startSync(): void {
    if (this.syncing !== undefined || this.retryTimer !== undefined) return;
    if (this.dirty.size === 0) {
      this.syncRequested = false;
      if (this.hasFinishable()) this.syncing = this.finishSealed().finally(() => this.afterSync());
      return;
    }
    if (!this.mustSync()) {
      if (this.mode === SyncMode.Interval) this.armSyncTimer();
      // Only a segment that can be finished now: in -F `dirty` stays non-empty, so afterSync comes
      // back here at once, and a sealed segment whose records are still in memory would make that a
      // loop in microtasks that never lets the turn writing them run (test: group-commit, -F).
      else if (this.hasFinishable()) this.syncing = this.finishSealed().finally(() => this.afterSync());
      return;
    }
    this.syncing = this.syncStep().finally(() => this.afterSync());
  }

  private afterSync(): void {
    this.syncing = undefined;
    // Group commit: whatever was written during that fsync goes in the next one.
    if (this.retryTimer === undefined && (this.dirty.size > 0 || this.syncRequested)) this.startSync();
  }

  private mustSync(): boolean {
    if (this.syncRequested || this.mode === SyncMode.Strict) return true;
    if (this.mode === SyncMode.Never) return false;
    for (const s of this.dirty) if (s.sealed) return true;
    return false;
  }

  private async syncStep(): Promise<void> {
    this.syncRequested = false;
    this.lastSyncAtMs = Date.now();
    const lsn = this.writtenLsn;
    const segments = [...this.dirty];
    const covered = this.unsynced;
    this.dirty.clear();
    this.unsynced = [];
    let dirSync = false;
    try {
      for (const segment of segments) {
        const startedAt = performance.now();
        await this.ops.fdatasync(segment.fd);
        this.hooks.onFsync?.((performance.now() - startedAt) / 1000);
        dirSync ||= segment.needsDirSync;
      }
      if (dirSync) await this.ops.fsyncDir(this.dir);
    } catch (err) {
      // Written bytes may be gone from the page cache: everything not known synced is rewritten.
      for (const s of segments) this.dirty.add(s);
      this.unsynced = [...covered, ...this.unsynced];
      this.fail(err as Error, []);
      return;
    }
    for (const segment of segments) segment.needsDirSync = false;
    this.markSynced(lsn);
    await this.finishSealed();
    this.hooks.afterStep();
  }

  private markSynced(lsn: number): void {
    if (lsn <= this.syncedLsn) return;
    this.syncedLsn = lsn;
    this.syncCount++;
    this.notify();
  }

  private armSyncTimer(): void {
    if (this.syncTimer !== undefined) return;
    const delayMs = Math.max(0, this.lastSyncAtMs + this.fsyncEveryMs - Date.now());
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.requestSync();
    }, delayMs);
  }

  /**
   * A write or fsync failed. `attempted` are writes that may not have reached the OS; with an fsync
   * failure, every write since the last good fsync is redone (except in -F, which keeps no such list).
   */
  private fail(err: Error, attempted: PendingWrite[]): void {
    this.failure = err;
    const redo = this.mode === SyncMode.Never ? attempted : [...this.unsynced, ...attempted];
    this.unsynced = [];
    this.retry = [...this.retry, ...redo];
    this.hooks.onFailure(err);
    if (this.retryTimer !== undefined) return; // the retry already pending covers these bytes too
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.syncRequested = this.mode !== SyncMode.Never;
      this.schedule();
    }, RETRY_AFTER_MS); // not unref'd: records not yet durable keep the process alive to retry
  }

  /**
   * Sealed segments whose bytes are all written (and synced unless -F) are truncated and closed. A
   * failure there loses nothing (the tail is zeros) and is only reported.
   */
  private async finishSealed(): Promise<void> {
    for (let i = 0; i < this.segments.length; ) {
      const s = this.segments[i]!;
      if (this.finishable(s)) {
        this.dirty.delete(s);
        this.segments.splice(i, 1);
        await s.finish(this.ops).catch((err: Error) => this.hooks.onFailure(err));
      } else i++;
    }
  }

  private notify(): void {
    const lsn = this.durableLsn();
    if (lsn === this.notifiedLsn) return;
    this.notifiedLsn = lsn;
    for (const listener of this.listeners) listener(lsn);
  }

  stopTimers(): void {
    clearTimeout(this.syncTimer);
    clearTimeout(this.retryTimer);
    this.syncTimer = undefined;
    this.retryTimer = undefined;
  }
}
