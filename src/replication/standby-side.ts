/**
 * A member's standby side (docs/replication.md, "The standby"): its follower log — opened at start,
 * reopened around a full copy or a truncation — and its one stream from a primary: the handshake's
 * answer carried out (TRUNCATE, FULL_COPY, STREAMING), frames into the log and the engine
 * (Receiver), whether it is in sync, its lag, and the catch-ups and full copies it received. The
 * member (member.ts) decides whom to follow and when to stop; the term lives in its StateStore.
 */
import type { Socket } from 'node:net';
import { restoreInto } from '../binlog';
import type { FollowerLog } from '../binlog/follower-log';
import type { LogDirectory, OpenedLog } from '../binlog/log-directory';
import type { Engine } from '../engine/engine';
import type { ReplicateRequest } from '../protocol/commands';
import { applyLogRecord } from './apply';
import { handshake } from './handshake';
import type { MemberLog } from './member-log';
import { parseAddress } from './peer';
import { Receiver } from './receiver';
import type { StateStore } from './state-file';
import { noteTermStart, type TermStart, truncationPoint } from './terms';

const HANDSHAKE_TIMEOUT_MS = 5000;

/** What follow() came to: it follows, it dropped a tail (and looks again), or why it waits. */
export type FollowOutcome = { kind: 'following' } | { kind: 'truncated' } | { kind: 'wait'; reason: string };

/** What the standby side needs of its member. */
export interface StandbySideHost {
  engine(): Engine;
  /** host:port peers reach this member at ('-' when unknown). */
  advertise(): string;
  /** The member stops: a stream ending now is not news. */
  stopping(): boolean;
  /** The engine's deadlines may have moved (records applied, the engine rebuilt). */
  armTimer(): void;
  /** Look for a primary again now (a stream ended, a tail was dropped). */
  wake(): void;
  token: string | undefined;
  log: { info(line: string): void; warn(line: string): void };
}

/** The standby's own figures for `x-role` and the metrics. */
export interface StreamFigures {
  /** The address it follows ('' while it has none). */
  primary: string;
  lagRecords: number;
  lagBytes: number;
  lagSeconds: number;
  catchUps: number;
  fullCopies: number;
}

export class StandbySide {
  private opened: OpenedLog<FollowerLog> | undefined;
  private receiver: Receiver | undefined;
  private following = '';
  /** The primary's last heartbeat said this standby is in sync; when its stream ended. */
  private streamInSync = false;
  /** When the stream last brought a frame (kept once it ended). */
  private streamHeardAtMs = 0;
  private streamTimeoutMs = 0;
  private catchUps = 0;
  private fullCopies = 0;

  constructor(
    private readonly directory: LogDirectory,
    private readonly log: MemberLog,
    private readonly state: StateStore,
    private readonly host: StandbySideHost,
  ) {}

  /** A stream from a primary is open. */
  get streaming(): boolean {
    return this.receiver !== undefined;
  }

  get follower(): FollowerLog {
    const f = this.log.standbyLog;
    if (f === undefined) throw new Error('replication: no follower log open');
    return f;
  }

  /** Opens DIR as a follower's log: the member's log from now on, its last term a known term. */
  open(): OpenedLog<FollowerLog> {
    const opened = this.directory.openFollower();
    for (const line of opened.warnings) this.host.log.warn(`replication: ${line}`);
    this.opened = opened;
    this.log.setFollower(opened.log);
    const last = opened.log.position().lastTerm;
    if (last > this.state.value.term) this.state.persist({ term: last });
    return opened;
  }

  /** Before the node listens: the log's jobs into the engine. */
  restore(engine: Engine): { jobs: number; warnings: string[] } {
    const opened = this.opened as OpenedLog<FollowerLog>;
    restoreFollower(engine, opened);
    return { jobs: opened.jobs.length, warnings: opened.warnings };
  }

  /** Ends the stream, if any (the member leads, stops, or was fenced). */
  end(reason: string): void {
    this.receiver?.close(reason);
    this.receiver = undefined;
  }

  /** A stepped-down primary's engine goes back to its log as a follower's; not in sync until told. */
  rejoin(): void {
    const engine = this.host.engine();
    engine.removeAllJobs();
    restoreFollower(engine, this.open());
    engine.attachJournal(this.log);
    this.streamInSync = false;
  }

  /**
   * Handshake with the primary at `address`, then follow it (after a full copy if it says so), or
   * drop the tail it says it never had.
   */
  async follow(address: string): Promise<FollowOutcome> {
    const peer = parseAddress(address);
    const at = this.follower.position();
    const state = this.state.value;
    const req: ReplicateRequest = {
      shard: state.shard || '-',
      member: state.member,
      knownTerm: state.term,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      index: at.index,
      offset: at.offset,
      advertise: this.host.advertise(),
    };
    const result = await handshake(peer.host, peer.port, req, this.host.token, HANDSHAKE_TIMEOUT_MS);
    if (result.kind === 'refused')
      return { kind: 'wait', reason: `${address} refused to stream: ${result.reason}` };
    if (result.kind === 'truncate') {
      await this.truncate(address, result.term, result.lsn);
      this.host.wake();
      return { kind: 'truncated' };
    }
    if (result.term < state.term || (state.shard !== '' && result.shard !== state.shard)) {
      result.socket.destroy();
      const reason = `${address} is at term ${result.term} of shard ${result.shard}: not followed`;
      return { kind: 'wait', reason };
    }
    this.state.persist({ term: result.term, shard: result.shard });
    if (result.kind === 'full-copy') {
      this.host.log.info(`replication: full copy from ${address}`);
      await this.reopen(() => this.directory.wipe());
      this.fullCopies++;
    } else if (at.lastLsn > 0) this.catchUps++;
    this.streamInSync = false;
    this.streamTimeoutMs = result.standbyTimeoutMs;
    this.following = address;
    const receiver = this.receive(address, result.socket);
    this.host.log.info(
      `replication: following ${address} at term ${result.term} (${result.kind === 'full-copy' ? 'full copy' : `from LSN ${at.lastLsn + 1}`})`,
    );
    receiver.start(result.leftover);
    result.socket.resume();
    return { kind: 'following' };
  }

  private receive(address: string, socket: Socket): Receiver {
    const engine = this.host.engine();
    const receiver = new Receiver(socket, this.follower, {
      onRecord: (rec, buf) => applyLogRecord(engine, rec, buf),
      onHeartbeat: (term, inSync) => {
        this.streamInSync = inSync;
        if (term > this.state.value.term) this.state.persist({ term });
        this.host.armTimer();
      },
      onWarning: (line) => this.host.log.warn(`replication: ${line}`),
      onClose: (reason) => {
        if (this.receiver === receiver) this.receiver = undefined;
        this.streamHeardAtMs = receiver.lastHeardAtMs;
        if (!this.host.stopping())
          this.host.log.info(`replication: stream from ${address} ended (${reason})`);
        this.host.wake();
      },
    });
    this.receiver = receiver;
    return receiver;
  }

  /** Closes the follower log, changes the files, reopens them and rebuilds the engine from them. */
  private async reopen(change: () => void): Promise<void> {
    await this.follower.close();
    change();
    const engine = this.host.engine();
    engine.removeAllJobs();
    restoreFollower(engine, this.open());
    this.host.armTimer();
  }

  /** TRUNCATE term lsn: the tail the primary never had is dropped (Kafka's leader-epoch rule). */
  private async truncate(address: string, term: number, lsn: number): Promise<void> {
    const at = this.follower.position();
    const history: TermStart[] = [];
    for (const s of this.follower.segmentTerms()) noteTermStart(history, s.term, s.firstLsn);
    const point = truncationPoint(
      { history, oldestLsn: history[0]?.firstLsn ?? 0, lastLsn: at.lastLsn },
      term,
      lsn,
    );
    this.host.log.warn(
      `replication: ${address} has not got LSN ${point + 1}..${at.lastLsn} of this log (never confirmed): dropped`,
    );
    await this.reopen(() => this.directory.truncateAfter(point));
  }

  /**
   * Its primary's last word said in sync — and, with --standby-timeout-ms, that word is less than
   * the timeout old (the primary goes on alone no sooner than that after its standby falls silent,
   * so a standby that may have been left behind never claims to be in sync).
   */
  inSync(): boolean {
    if (!this.streamInSync || this.streamTimeoutMs === 0) return this.streamInSync;
    const heard = this.receiver?.lastHeardAtMs ?? this.streamHeardAtMs;
    return Date.now() - heard < this.streamTimeoutMs;
  }

  figures(): StreamFigures {
    const r = this.receiver;
    return {
      primary: r ? this.following : '',
      lagRecords: r?.lagRecords() ?? 0,
      lagBytes: r?.lagBytes() ?? 0,
      lagSeconds: r?.lagSeconds() ?? 0,
      catchUps: this.catchUps,
      fullCopies: this.fullCopies,
    };
  }
}

/**
 * The follower log's jobs into the engine, and total-jobs and cmd-delete as its primary counts them
 * since the term began, as far as the records on disk tell (docs/replication.md, "Counters").
 */
function restoreFollower(engine: Engine, opened: OpenedLog<FollowerLog>): void {
  restoreInto(engine, opened);
  const tally = opened.tally;
  if (tally) engine.restoreTermCounts(tally.made, tally.tubes);
  else engine.resetTermCounts();
}
