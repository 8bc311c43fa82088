/**
 * The primary's replication: one StandbySender per connected standby, the acknowledgements, and
 * the composite durable LSN the server gates confirmations on (docs/replication.md, "Synchronous
 * replication"):
 *
 *   confirmed = min(local durable LSN, K-th highest LSN acknowledged by the standbys)
 *
 * An acknowledgement is a fact about a standby's disk, so each member's last one keeps counting
 * after it disconnects (until it comes back with less). In sync: live, and everything up to the
 * point it went live acknowledged (with --standby-timeout-ms: and nothing waiting longer than
 * that). With fewer than K in sync, confirmations wait — or, after --standby-timeout-ms, the
 * primary goes on alone until K are in sync again.
 */
import type { Socket } from 'node:net';
import { FILE_HEADER_BYTES } from '../binlog/format';
import type { ReplicateRequest } from '../protocol/commands';
import { SenderMode, StandbySender } from './sender';
import type { SourceLog, WrittenSpan } from './source-log';
import { decideHandshake } from './terms';

/** Heartbeats to idle standbys, and the in-sync/alone evaluation, run this often (at most). */
export const TICK_MS = 250;
const HEARTBEAT_MS = 500;

/**
 * With --standby-timeout-ms, a standby counts itself in sync only while it heard from its primary
 * within the timeout (docs/replication.md): idle heartbeats must come more often than that.
 */
export function heartbeatMs(standbyTimeoutMs: number | null): number {
  return standbyTimeoutMs === null
    ? HEARTBEAT_MS
    : Math.max(10, Math.min(HEARTBEAT_MS, standbyTimeoutMs / 3));
}
/** A standby that has unacknowledged data and says nothing for this long is dropped. */
const SILENT_STANDBY_MS = 10_000;

export type { ReplicateRequest } from '../protocol/commands';

export interface SourceOptions {
  syncStandbys: number;
  /** null: wait forever for K standbys. */
  standbyTimeoutMs: number | null;
  shard: string;
  term: number;
  log: (line: string) => void;
  nowMs?: () => number;
}

export interface StandbyFigures {
  member: string;
  address: string;
  inSync: boolean;
  mode: SenderMode;
  lagRecords: number;
  lagBytes: number;
  lagSeconds: number;
  ackedLsn: number;
}

export class ReplicationSource {
  readonly senders = new Set<StandbySender>();
  /** Last LSN each standby member acknowledged (connected or not). */
  private readonly acked = new Map<string, number>();
  private replicated = 0;
  alone = false;
  private lackingSinceMs: number | undefined;
  private waitingLogged = false;
  catchUpsSent = 0;
  fullCopiesSent = 0;
  private readonly listeners = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly offWritten: () => void;
  private readonly nowMs: () => number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly log: SourceLog,
    private readonly options: SourceOptions,
  ) {
    this.nowMs = options.nowMs ?? Date.now;
    this.offWritten = log.onWritten((spans, lastLsn) => this.onWritten(spans, lastLsn));
    this.heartbeatMs = heartbeatMs(options.standbyTimeoutMs);
    this.timer = setInterval(() => this.tick(), Math.min(TICK_MS, this.heartbeatMs / 2));
    this.timer.unref();
  }

  get term(): number {
    return this.options.term;
  }

  get syncStandbys(): number {
    return this.options.syncStandbys;
  }

  /** K-th highest acknowledged LSN (Infinity when K is 0). */
  replicatedLsn(): number {
    return this.options.syncStandbys === 0 ? Number.POSITIVE_INFINITY : this.replicated;
  }

  /** What the server may confirm, given the local durable LSN. */
  confirmedLsn(localDurable: number): number {
    if (this.alone) return localDurable;
    return Math.min(localDurable, this.replicatedLsn());
  }

  /** Called whenever replicatedLsn or `alone` may have moved. */
  onProgress(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  inSync(sender: StandbySender, now = this.nowMs()): boolean {
    if (sender.mode !== SenderMode.Live || sender.ackedLsn < sender.liveFromLsn) return false;
    const timeout = this.options.standbyTimeoutMs;
    return timeout === null || sender.lagMs(now) < timeout;
  }

  inSyncCount(now = this.nowMs()): number {
    let n = 0;
    for (const s of this.senders) if (this.inSync(s, now)) n++;
    return n;
  }

  /** Confirmations are held for standbys (fewer than K in sync and not alone). */
  get waiting(): boolean {
    return this.options.syncStandbys > 0 && !this.alone && this.lackingSinceMs !== undefined;
  }

  figures(): StandbyFigures[] {
    const now = this.nowMs();
    return [...this.senders].map((s) => ({
      member: s.member,
      address: s.address,
      inSync: this.inSync(s, now),
      mode: s.mode,
      lagRecords: s.lagRecords(),
      lagBytes: s.lagBytes(),
      lagSeconds: s.lagMs(now) / 1000,
      ackedLsn: s.ackedLsn,
    }));
  }

  /**
   * A standby's `x-replicate`: answers the handshake line on `socket` and, unless refused, starts
   * streaming. Returns the reply word (for the caller's log).
   */
  accept(socket: Socket, leftover: Buffer, req: ReplicateRequest): string {
    const reply = (line: string): string => {
      socket.write(`${line}\r\n`);
      return line.split(' ')[0] as string;
    };
    if (req.shard !== '-' && req.shard !== this.options.shard && req.lastLsn > 0) {
      socket.end(`WRONG_SHARD ${this.options.shard}\r\n`);
      return 'WRONG_SHARD';
    }
    const segments = this.log.segments();
    const oldest = segments[0];
    if (oldest === undefined) throw new Error('a primary always has a segment');
    const decision = decideHandshake(
      { history: this.log.termHistory(), oldestLsn: oldest.firstLsn, lastLsn: this.log.lastLsn() },
      { lastTerm: req.lastTerm, lastLsn: req.lastLsn },
    );
    if (decision.kind === 'truncate') {
      socket.end(`TRUNCATE ${decision.term} ${decision.lsn}\r\n`);
      return 'TRUNCATE';
    }
    let start = { index: oldest.index, offset: 0, lastLsn: 0 };
    let full = decision.kind === 'full-copy';
    if (!full) {
      const at = this.locate(req);
      if (at === undefined) {
        this.options.log(
          `replication: standby ${req.advertise} at LSN ${req.lastLsn} (segment ${req.index} offset ${req.offset}) ` +
            'does not match this log there: full copy',
        );
        full = true;
      } else start = { ...at, lastLsn: req.lastLsn };
    } else if (req.lastLsn > 0 && decision.kind === 'full-copy') {
      this.options.log(`replication: standby ${req.advertise}: full copy (${decision.reason})`);
    }
    const word = reply(
      `${full ? 'FULL_COPY' : 'STREAMING'} ${this.options.term} ${this.options.standbyTimeoutMs ?? 0} ${this.options.shard}`,
    );
    if (full) this.fullCopiesSent++;
    else this.catchUpsSent++;
    // A member that comes back with less than it acknowledged (a wiped disk) counts for what it has.
    this.acked.set(req.member, start.lastLsn);
    const sender = new StandbySender(
      socket,
      this.log,
      req.member,
      req.advertise,
      start,
      this.events,
      this.nowMs,
    );
    for (const other of this.senders)
      if (other.member === req.member) other.close('replaced by a new connection');
    this.senders.add(sender);
    sender.start(leftover);
    this.recompute();
    return word;
  }

  /** Where the standby's position is in this log, or undefined when the files disagree. */
  private locate(req: ReplicateRequest): { index: number; offset: number } | undefined {
    const segments = this.log.segments();
    const i = segments.findIndex((s) => s.index === req.index);
    const segment = segments[i];
    if (segment === undefined || req.offset < FILE_HEADER_BYTES || req.offset > segment.flushed)
      return undefined;
    if (req.offset < segment.flushed) {
      return this.log.lsnAt(req.index, req.offset) === req.lastLsn + 1 ? req : undefined;
    }
    if (!segment.sealed) return req.lastLsn <= this.log.lastLsn() ? req : undefined;
    if (req.offset !== segment.used) return undefined;
    const next = segments[i + 1];
    return next !== undefined && next.firstLsn === req.lastLsn + 1
      ? { index: next.index, offset: 0 }
      : undefined;
  }

  private readonly events = {
    onAck: (sender: StandbySender) => {
      this.acked.set(sender.member, sender.ackedLsn);
      const now = this.nowMs();
      const inSync = this.inSync(sender, now);
      if (inSync !== sender.toldInSync) sender.heartbeat(this.options.term, now, inSync);
      this.recompute();
    },
    onClose: (sender: StandbySender, reason: string) => {
      if (!this.senders.delete(sender)) return;
      this.options.log(`replication: standby ${sender.address} disconnected (${reason})`);
      this.recompute();
    },
  };

  private onWritten(spans: readonly WrittenSpan[], lastLsn: number): void {
    for (const sender of this.senders) sender.onWritten(spans, lastLsn);
  }

  /** K-th highest acknowledgement; never goes back. Re-evaluates in-sync and alone. */
  private recompute(): void {
    const k = this.options.syncStandbys;
    if (k > 0) {
      const values = [...this.acked.values()].sort((a, b) => b - a);
      const kth = values[k - 1] ?? 0;
      if (kth > this.replicated) this.replicated = kth;
    }
    this.evaluateSync();
    for (const listener of this.listeners) listener();
  }

  private evaluateSync(): void {
    const k = this.options.syncStandbys;
    if (k === 0) return;
    const now = this.nowMs();
    const have = this.inSyncCount(now);
    if (have >= k) {
      if (this.alone)
        this.options.log(`replication: ${have} standbys in sync again: confirmations wait for ${k}`);
      this.alone = false;
      this.lackingSinceMs = undefined;
      this.waitingLogged = false;
      return;
    }
    this.lackingSinceMs ??= now;
    const timeout = this.options.standbyTimeoutMs;
    if (!this.alone && timeout !== null && now - this.lackingSinceMs >= timeout) {
      this.alone = true;
      this.options.log(
        `replication: only ${have} of ${k} standbys in sync for ${timeout} ms: going on ALONE ` +
          '(confirmations no longer wait for standbys; a failover can lose what is confirmed now)',
      );
    } else if (!this.alone && !this.waitingLogged) {
      this.waitingLogged = true;
      this.options.log(
        `replication: waiting for ${k - have} more in-sync standby (have ${have} of ${k}); confirmations are held`,
      );
    }
  }

  private tick(): void {
    const now = this.nowMs();
    for (const sender of this.senders) {
      const inSync = this.inSync(sender, now);
      // Also at once when its in-sync status changed: a standby must know whether it may be promoted.
      if (now - sender.lastSendAtMs >= this.heartbeatMs || inSync !== sender.toldInSync)
        sender.heartbeat(this.options.term, now, inSync);
      if (sender.lagRecords() > 0 && now - sender.lastHeardAtMs > SILENT_STANDBY_MS)
        sender.close(`no acknowledgement for ${SILENT_STANDBY_MS} ms`);
    }
    const wasAlone = this.alone;
    const wasWaiting = this.waiting;
    this.evaluateSync();
    if (wasAlone !== this.alone || wasWaiting !== this.waiting)
      for (const listener of this.listeners) listener();
  }

  /** Stops streaming (the member stepped down or the node stops). */
  close(reason: string): void {
    clearInterval(this.timer);
    this.offWritten();
    for (const sender of [...this.senders]) sender.close(reason);
  }
}
