/**
 * The write pipeline (group commit). Records are appended in memory while a command runs; at the end
 * of the event-loop turn (setImmediate) everything appended is cut into one pwritev per segment and,
 * in strict mode, one fdatasync per touched segment — all on the libuv thread pool. While that step
 * is in flight the next batch accumulates, so N concurrent writers share each fsync.
 *
 * What `durableLsn()` means per mode:
 *   Strict   (-f 0)  : written and fdatasynced (plus the directory after a new segment appeared).
 *   Interval (-f MS) : written (handed to the OS: survives a process crash); fdatasynced at most MS ms
 *                      later by a timer, so the tail of a burst is synced too.
 *   Never    (-F)    : written; fsynced only by close().
 *
 * A failed write or fsync keeps every byte not yet known durable and rewrites it (after an fsync
 * failure Linux may have dropped the dirty pages, so retrying the fsync alone is not enough).
 */
import type { FileOps } from './file-ops';
import type { PendingWrite, Segment } from './segment';

export const SyncMode = { Strict: 'strict', Interval: 'interval', Never: 'never' } as const;
export type SyncMode = (typeof SyncMode)[keyof typeof SyncMode];

const RETRY_AFTER_MS = 1000;

export interface WriterHooks {
  /** Runs before each batch is cut: the place to append compaction copies. */
  beforeBatch(): void;
  /** Runs after each successful step (durable/synced LSNs may have moved). */
  afterStep(): void;
  /** A write or fsync failed; the step will be retried. */
  onFailure(err: Error): void;
  /** One fdatasync of a segment succeeded after `seconds` (the fsync-latency histogram). */
  onFsync?(seconds: number): void;
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
  private readonly dirty = new Set<Segment>();
  /** Writes not yet covered by a successful fsync (kept for rewriting after a failure). */
  private unsynced: PendingWrite[] = [];
  private retry: PendingWrite[] = [];
  private scheduled = false;
  private running: Promise<void> | undefined;
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

  requestSync(): void {
    this.syncRequested = true;
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled || this.running !== undefined || this.retryTimer !== undefined) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.start();
    });
  }

  private start(): void {
    if (this.running !== undefined) return;
    this.running = this.step().finally(() => {
      this.running = undefined;
      if (this.hasWork() && this.retryTimer === undefined) this.schedule();
    });
  }

  private hasWork(): boolean {
    return (
      this.syncRequested || this.retry.length > 0 || this.segments.some((s) => s.hasPending() || s.sealed)
    );
  }

  /** Resolves once no step is scheduled or running. */
  async idle(): Promise<void> {
    while (this.scheduled || this.running !== undefined) {
      if (this.running !== undefined) await this.running;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs steps until everything appended is written and fsynced (whatever the mode). For close(). */
  async drain(): Promise<void> {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    for (let attempt = 0; ; attempt++) {
      if (this.running !== undefined) {
        await this.running;
        continue;
      }
      if (this.failure !== undefined && attempt > 1) throw this.failure;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      if (!this.hasWork() && this.syncedLsn >= this.appendedLsn) return;
      this.syncRequested = true;
      this.start();
    }
  }

  private takeAll(): PendingWrite[] {
    const writes: PendingWrite[] = [];
    for (const segment of this.segments) {
      const w = segment.take();
      if (w !== undefined) writes.push(w);
    }
    return writes;
  }

  private async step(): Promise<void> {
    this.hooks.beforeBatch();
    const lsn = this.appendedLsn;
    const fresh = this.takeAll();
    const writes = [...this.retry, ...fresh];
    if (this.mode !== SyncMode.Never) this.unsynced.push(...fresh);
    this.retry = [];
    try {
      for (const w of writes) {
        await this.ops.writev(w.segment.fd, w.bufs, w.position);
        if (w.end > w.segment.flushed) w.segment.flushed = w.end;
        this.dirty.add(w.segment);
      }
      this.writtenLsn = lsn;
      if (this.mustSync()) await this.syncDirty(lsn);
      else if (this.mode === SyncMode.Interval && this.dirty.size > 0) this.armSyncTimer();
      this.failure = undefined;
    } catch (err) {
      this.fail(err as Error, writes);
      return;
    }
    this.notify();
    await this.finishSealed();
    this.hooks.afterStep();
  }

  private mustSync(): boolean {
    if (this.syncRequested || this.mode === SyncMode.Strict) return true;
    if (this.mode === SyncMode.Never) return false;
    for (const s of this.dirty) if (s.sealed) return true;
    return false;
  }

  private async syncDirty(lsn: number): Promise<void> {
    this.syncRequested = false;
    this.lastSyncAtMs = Date.now();
    let dirSync = false;
    for (const segment of this.dirty) {
      const startedAt = performance.now();
      await this.ops.fdatasync(segment.fd);
      this.hooks.onFsync?.((performance.now() - startedAt) / 1000);
      dirSync ||= segment.needsDirSync;
    }
    if (dirSync) await this.ops.fsyncDir(this.dir);
    for (const segment of this.dirty) segment.needsDirSync = false;
    this.dirty.clear();
    this.unsynced = [];
    this.syncedLsn = lsn;
    this.syncCount++;
  }

  private armSyncTimer(): void {
    if (this.syncTimer !== undefined) return;
    const delayMs = Math.max(0, this.lastSyncAtMs + this.fsyncEveryMs - Date.now());
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.requestSync();
    }, delayMs);
  }

  private fail(err: Error, attempted: PendingWrite[]): void {
    this.failure = err;
    this.retry = this.mode === SyncMode.Never ? attempted : [...this.unsynced];
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, RETRY_AFTER_MS); // not unref'd: records not yet durable keep the process alive to retry
    this.hooks.onFailure(err);
  }

  /**
   * Sealed segments whose bytes are all written (and synced unless -F) are truncated and closed. A
   * failure there loses nothing (the tail is zeros) and is only reported.
   */
  private async finishSealed(): Promise<void> {
    const never = this.mode === SyncMode.Never;
    for (let i = 0; i < this.segments.length; ) {
      const s = this.segments[i]!;
      if (s.sealed && !s.hasPending() && s.flushed === s.used && (never || !this.dirty.has(s))) {
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
