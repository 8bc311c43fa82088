/**
 * One member of a shard (docs/replication.md): its role — primary, standby, or candidate while a
 * promotion runs — its persisted term, and every change of role: start-up discovery, following a
 * primary (handshake, truncation, full copy), leading, stepping down on a higher term, and the
 * `x-role` / `x-promote` / `x-fence` / `x-replicate` answers (ShardControl, for the node server).
 * Role changes run one at a time (`serial`).
 */
import type { Socket } from 'node:net';
import { type BinlogOptions, restoreInto } from '../binlog';
import type { FollowerLog } from '../binlog/follower-log';
import { LogDirectory, type OpenedLog } from '../binlog/log-directory';
import type { Engine } from '../engine/engine';
import type { ReplicateRequest } from '../protocol/commands';
import { Role, type RoleView, type ShardControl } from '../server/shard';
import { applyLogRecord } from './apply';
import { decideStart } from './discovery';
import { handshake } from './handshake';
import { MemberLog } from './member-log';
import { askRole, type PeerAddress, type PeerRole, parseAddress } from './peer';
import { primaryLog } from './primary-log';
import { type FenceRequest, fenceRound, fenceVerdict } from './promotion';
import { Receiver } from './receiver';
import { ReplicationSource } from './source';
import { type MemberState, newId, readState, writeState } from './state-file';
import { noteTermStart, type TermStart, truncationPoint } from './terms';

/** Peers are asked their role this often while a member has no primary (and by a primary). */
export const POLL_MS = 500;
const ASK_TIMEOUT_MS = 1000;
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface MemberOptions {
  dir: string;
  binlog: BinlogOptions;
  /** The other members' client ports (HOST:PORT), this member's own address left out. */
  peers: readonly string[];
  standby: boolean;
  syncStandbys: number;
  /** null: confirmations wait for K standbys forever. */
  standbyTimeoutMs: number | null;
  token: string | undefined;
  log: { info(line: string): void; warn(line: string): void };
}

/** What the member needs of the node around it. */
export interface MemberHost {
  readonly engine: Engine;
  /** Closes every client connection (stepping down: unconfirmed replies are never sent). */
  dropClients(): void;
  /** The engine's deadlines may have moved (records applied). */
  armTimer(): void;
  /** host:port peers reach this member at. */
  readonly advertise: string;
}

export class Member implements ShardControl {
  private role: Role = Role.Standby;
  private readonly log: MemberLog;
  private readonly peers: PeerAddress[];
  private host: MemberHost | undefined;
  private opened: OpenedLog<FollowerLog> | undefined;
  private source: ReplicationSource | undefined;
  private receiver: Receiver | undefined;
  private following = '';
  /** The primary's last heartbeat said this standby is in sync; when its stream ended. */
  private streamInSync = false;
  /** When the stream last brought a frame (kept once it ended). */
  private streamHeardAtMs = 0;
  private streamTimeoutMs = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeLoop: (() => void) | undefined;
  private lastWait = '';
  private readonly counts = { catchUps: 0, fullCopies: 0, catchUpsSent: 0, fullCopiesSent: 0 };

  private constructor(
    private readonly options: MemberOptions,
    private readonly directory: LogDirectory,
    private state: MemberState,
  ) {
    this.log = new MemberLog(() => this.close());
    this.peers = options.peers.map(parseAddress);
  }

  /** Locks and opens DIR as a standby's log (no role yet), reading or making the member's state. */
  static async open(options: MemberOptions): Promise<Member> {
    const directory = await LogDirectory.open(options.dir, options.binlog);
    try {
      let state = readState(options.dir);
      if (state === undefined) {
        state = { shard: '', member: newId(), term: 0, primaryTerm: 0 };
        writeState(options.dir, state);
      }
      const member = new Member(options, directory, state);
      member.openFollower();
      return member;
    } catch (err) {
      await directory.release();
      throw err;
    }
  }

  /** The log the server and engine write to. */
  get durableLog(): MemberLog {
    return this.log;
  }

  get token(): string | undefined {
    return this.options.token;
  }

  get writable(): boolean {
    return this.role === Role.Primary;
  }

  /** Before the node listens: the log's jobs into the engine. */
  restore(engine: Engine): { jobs: number; warnings: string[] } {
    const opened = this.opened as OpenedLog<FollowerLog>;
    restoreInto(engine, opened);
    return { jobs: opened.jobs.length, warnings: opened.warnings };
  }

  /** Once the node listens: look for a primary (or lead), and keep doing so. */
  start(host: MemberHost): void {
    this.host = host;
    void this.loop();
  }

  private get engine(): Engine {
    return (this.host as MemberHost).engine;
  }

  private get follower(): FollowerLog {
    const f = this.log.standbyLog;
    if (f === undefined) throw new Error('replication: no follower log open');
    return f;
  }

  private openFollower(): OpenedLog<FollowerLog> {
    const opened = this.directory.openFollower();
    for (const line of opened.warnings) this.options.log.warn(`replication: ${line}`);
    this.opened = opened;
    this.log.setFollower(opened.log);
    const last = opened.log.position().lastTerm;
    if (last > this.state.term) this.persist({ term: last });
    return opened;
  }

  private persist(change: Partial<MemberState>): void {
    this.state = { ...this.state, ...change };
    writeState(this.options.dir, this.state);
  }

  /** One role change at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        await this.serial(() => this.step());
      } catch (err) {
        this.options.log.warn(`replication: ${(err as Error).message}`);
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        this.wakeLoop = resolve;
        this.timer = setTimeout(resolve, POLL_MS);
      });
    }
  }

  private wake(): void {
    clearTimeout(this.timer);
    this.wakeLoop?.();
  }

  private async askPeers(): Promise<PeerRole[]> {
    const answers = await Promise.all(this.peers.map((p) => askRole(p, this.options.token, ASK_TIMEOUT_MS)));
    return answers.filter((a): a is PeerRole => a !== undefined);
  }

  private async step(): Promise<void> {
    if (this.closed || this.role === Role.Candidate || this.receiver !== undefined) return;
    const peers = await this.askPeers();
    if (this.closed) return;
    if (this.role === Role.Primary) {
      const higher = peers.find((p) => p.term > this.state.term);
      if (higher) await this.stepDown(`${higher.address} knows term ${higher.term}`, higher.term);
      return;
    }
    const at = this.follower.position();
    const decision = decideStart(
      {
        term: this.state.term,
        lastTerm: at.lastTerm,
        lastLsn: at.lastLsn,
        mayLead: this.mayLead(),
        syncStandbys: this.options.syncStandbys,
        member: this.state.member,
        peerCount: this.peers.length,
      },
      peers,
    );
    if (decision.kind === 'follow') await this.follow(decision.address);
    else if (decision.kind === 'lead') await this.claim(decision.term);
    else if (decision.reason !== this.lastWait) {
      this.lastWait = decision.reason;
      this.options.log.info(`replication: waiting for a primary: ${decision.reason}`);
    }
  }

  /** It was the primary of the term its log ends with — or this is a first start without --standby. */
  private mayLead(): boolean {
    const at = this.follower.position();
    if (at.lastLsn === 0 && this.state.primaryTerm === 0) return !this.options.standby;
    return this.state.primaryTerm > 0 && this.state.primaryTerm === at.lastTerm;
  }

  // ---- following -------------------------------------------------------------------------------

  private async follow(address: string): Promise<void> {
    const peer = parseAddress(address);
    const at = this.follower.position();
    const req: ReplicateRequest = {
      shard: this.state.shard || '-',
      member: this.state.member,
      knownTerm: this.state.term,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      index: at.index,
      offset: at.offset,
      advertise: this.host?.advertise || '-',
    };
    const result = await handshake(peer.host, peer.port, req, this.options.token, HANDSHAKE_TIMEOUT_MS);
    if (result.kind === 'refused') {
      this.noteWait(`${address} refused to stream: ${result.reason}`);
      return;
    }
    if (result.kind === 'truncate') {
      await this.truncate(address, result.term, result.lsn);
      this.wake();
      return;
    }
    if (result.term < this.state.term || (this.state.shard !== '' && result.shard !== this.state.shard)) {
      result.socket.destroy();
      this.noteWait(`${address} is at term ${result.term} of shard ${result.shard}: not followed`);
      return;
    }
    this.persist({ term: result.term, shard: result.shard });
    if (result.kind === 'full-copy') {
      this.options.log.info(`replication: full copy from ${address}`);
      await this.reopen(() => this.directory.wipe());
      this.counts.fullCopies++;
    } else if (at.lastLsn > 0) this.counts.catchUps++;
    this.streamInSync = false;
    this.streamTimeoutMs = result.standbyTimeoutMs;
    this.following = address;
    this.lastWait = '';
    const engine = this.engine;
    const receiver = new Receiver(result.socket, this.follower, {
      onRecord: (rec, buf) => applyLogRecord(engine, rec, buf),
      onHeartbeat: (term, inSync) => {
        this.streamInSync = inSync;
        if (term > this.state.term) this.persist({ term });
        this.host?.armTimer();
      },
      onWarning: (line) => this.options.log.warn(`replication: ${line}`),
      onClose: (reason) => {
        if (this.receiver === receiver) this.receiver = undefined;
        this.streamHeardAtMs = receiver.lastHeardAtMs;
        if (!this.closed) this.options.log.info(`replication: stream from ${address} ended (${reason})`);
        this.wake();
      },
    });
    this.receiver = receiver;
    this.options.log.info(
      `replication: following ${address} at term ${result.term} (${result.kind === 'full-copy' ? 'full copy' : `from LSN ${at.lastLsn + 1}`})`,
    );
    receiver.start(result.leftover);
    result.socket.resume();
  }

  private noteWait(reason: string): void {
    if (reason === this.lastWait) return;
    this.lastWait = reason;
    this.options.log.info(`replication: ${reason}`);
  }

  /** Closes the follower log, changes the files, reopens them and rebuilds the engine from them. */
  private async reopen(change: () => void): Promise<void> {
    await this.follower.close();
    change();
    this.engine.removeAllJobs();
    restoreInto(this.engine, this.openFollower());
    this.host?.armTimer();
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
    this.options.log.warn(
      `replication: ${address} has not got LSN ${point + 1}..${at.lastLsn} of this log (never confirmed): dropped`,
    );
    await this.reopen(() => this.directory.truncateAfter(point));
  }

  /**
   * Standby: its primary's last word said in sync — and, with --standby-timeout-ms, that word is
   * less than the timeout old (the primary goes on alone no sooner than that after its standby falls
   * silent, so a standby that may have been left behind never claims to be in sync).
   */
  private standbyInSync(): boolean {
    if (!this.streamInSync || this.streamTimeoutMs === 0) return this.streamInSync;
    const heard = this.receiver?.lastHeardAtMs ?? this.streamHeardAtMs;
    return Date.now() - heard < this.streamTimeoutMs;
  }

  // ---- leading ---------------------------------------------------------------------------------

  /**
   * Start-up leads as x-promote does (docs/replication.md, "Terms"): the term persisted first — a
   * fence that raised the known term meanwhile wins — then the same fence round, so a promotion
   * racing for the same term meets it and one of the two yields.
   */
  private async claim(term: number): Promise<void> {
    if (term > this.state.term && (await this.candidacy(term, false)) === undefined) await this.lead(term);
  }

  /**
   * Records `term` as known (persisted) and, unless forced, runs the fence round: undefined when
   * this member may lead at `term`, else the refusal (it is then a standby at the new known term).
   */
  private async candidacy(term: number, force: boolean): Promise<string | undefined> {
    this.persist({ term });
    this.role = Role.Candidate;
    this.receiver?.close(`candidate at term ${term}`);
    this.receiver = undefined;
    if (force) return undefined;
    const at = this.follower.position();
    const request: FenceRequest = {
      term,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      member: this.state.member,
    };
    this.fencing = true;
    const answers = await fenceRound(this.peers, request, this.options.token);
    this.fencing = false;
    const refusal = fenceVerdict(
      answers,
      at,
      this.peers.length - this.options.syncStandbys,
      this.yielded,
      term,
    );
    this.yielded = false;
    if (refusal === undefined) return undefined;
    this.role = Role.Standby;
    this.options.log.warn(`replication: leading at term ${term} refused: ${refusal}`);
    this.wake();
    return refusal;
  }

  private async lead(term: number): Promise<void> {
    this.persist({
      term: Math.max(term, this.state.term),
      primaryTerm: term,
      shard: this.state.shard || newId(),
    });
    this.receiver?.close('this member leads now');
    this.receiver = undefined;
    this.following = '';
    const binlog = await this.directory.promote(this.follower, term);
    const engine = this.engine;
    engine.attachJournal(this.log);
    binlog.attachJobSource((id) => engine.jobSource(id));
    const source = new ReplicationSource(primaryLog(binlog), {
      syncStandbys: this.options.syncStandbys,
      standbyTimeoutMs: this.options.standbyTimeoutMs,
      shard: this.state.shard,
      term,
      log: (line) => this.options.log.info(line),
    });
    this.source = source;
    this.log.setPrimary(binlog, source);
    this.role = Role.Primary;
    this.lastWait = '';
    this.options.log.info(`replication: primary at term ${term} (log at LSN ${binlog.lastLsn()})`);
    this.host?.armTimer();
  }

  /** A higher term is known: confirm nothing more, drop the clients, follow (after discovery). */
  private beginStepDown(reason: string, term: number): void {
    if (this.role !== Role.Primary) return;
    this.log.freeze();
    this.role = Role.Standby;
    if (term > this.state.term) this.persist({ term });
    this.options.log.warn(`replication: stepping down at term ${this.state.term}: ${reason}`);
    this.host?.dropClients();
  }

  private async stepDown(reason: string, term: number): Promise<void> {
    this.beginStepDown(reason, term);
    const binlog = this.log.primary;
    if (binlog === undefined) return;
    this.closeSource(reason);
    await binlog.close();
    this.engine.removeAllJobs();
    restoreInto(this.engine, this.openFollower());
    this.engine.attachJournal(this.log);
    this.streamInSync = false;
    this.wake();
  }

  /** Stops streaming to standbys; its counts go on in the member's totals. */
  private closeSource(reason: string): void {
    const source = this.source;
    if (source === undefined) return;
    source.close(reason);
    this.counts.catchUpsSent += source.catchUpsSent;
    this.counts.fullCopiesSent += source.fullCopiesSent;
    this.source = undefined;
  }

  // ---- ShardControl ----------------------------------------------------------------------------

  replicate(socket: Socket, leftover: Buffer, req: ReplicateRequest): void {
    const source = this.source;
    if (this.role !== Role.Primary || source === undefined) {
      socket.end('NOT_PRIMARY\r\n');
      return;
    }
    if (req.knownTerm > this.state.term) {
      socket.end(`TERM_NOT_HIGHER ${this.state.term}\r\n`);
      void this.serial(() =>
        this.stepDown(`standby ${req.advertise} knows term ${req.knownTerm}`, req.knownTerm),
      );
      return;
    }
    const word = source.accept(socket, leftover, req);
    this.options.log.info(`replication: standby ${req.advertise} (${req.member}) connected: ${word}`);
  }

  promote(term: number, force: boolean): Promise<string> {
    return this.serial(async () => {
      if (this.role !== Role.Standby) return 'NOT_STANDBY';
      if (term <= this.state.term) return `TERM_NOT_HIGHER ${this.state.term}`;
      if (!force && !this.standbyInSync()) return 'NOT_IN_SYNC';
      const refusal = await this.candidacy(term, force);
      if (refusal !== undefined) return refusal;
      this.options.log.warn(`replication: promoted to term ${term}${force ? ' (forced)' : ''}`);
      await this.lead(term);
      const segments = this.log.primary?.segmentList ?? [];
      return `PROMOTED ${term} ${segments[segments.length - 1]?.firstLsn ?? 0}`;
    });
  }

  /** A candidate of the same term with a more advanced log asked this candidate to yield. */
  private yielded = false;
  /** Its fence round is in flight: it may still yield (once decided, it never does). */
  private fencing = false;

  fence(term: number, lastTerm: number, lastLsn: number, member: string): string {
    const mine = this.position();
    if (term === this.state.term && this.role === Role.Candidate && this.fencing) {
      const theirs = lastTerm !== mine.lastTerm ? lastTerm - mine.lastTerm : lastLsn - mine.lastLsn;
      if (theirs > 0 || (theirs === 0 && member > this.state.member)) {
        this.yielded = true;
        return `FENCED ${this.role} ${mine.lastTerm} ${mine.lastLsn}`;
      }
    }
    if (term <= this.state.term) return `TERM_NOT_HIGHER ${this.state.term} ${this.role}`;
    const before = this.role;
    this.persist({ term });
    if (before === Role.Primary) {
      this.beginStepDown(`fenced by a candidate at term ${term}`, term);
      void this.serial(() => this.stepDown(`fenced at term ${term}`, term));
    } else {
      this.receiver?.close(`fenced at term ${term}`);
    }
    return `FENCED ${before} ${mine.lastTerm} ${mine.lastLsn}`;
  }

  /** The last record of whichever log is open. */
  private position(): { lastTerm: number; lastLsn: number; durable: number } {
    const binlog = this.log.primary;
    if (binlog) return { lastTerm: binlog.term, lastLsn: binlog.lastLsn(), durable: binlog.durableSeq() };
    const f = this.log.standbyLog;
    if (f) return { ...f.position(), durable: f.durableSeq() };
    return { lastTerm: 0, lastLsn: 0, durable: 0 };
  }

  putLsnOf(id: number): number {
    if (this.options.syncStandbys === 0) return 0;
    return this.log.primary?.stateLsnOf(id) ?? 0;
  }

  view(): RoleView {
    const binlog = this.log.primary;
    const source = this.source;
    const at = this.position();
    const standbys = source?.figures() ?? [];
    const r = this.receiver;
    return {
      role: this.role,
      term: this.state.term,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      durableLsn: at.durable,
      confirmedLsn: binlog ? Math.min(this.log.durableSeq(), at.lastLsn) : 0,
      inSync: binlog ? !(source?.alone ?? false) : this.standbyInSync(),
      primary: this.receiver ? this.following : '',
      syncStandbys: this.options.syncStandbys,
      inSyncStandbys: standbys.filter((s) => s.inSync).length,
      standbys,
      lagRecords: r?.lagRecords() ?? 0,
      lagBytes: r?.lagBytes() ?? 0,
      lagSeconds: r?.lagSeconds() ?? 0,
      shard: this.state.shard,
      member: this.state.member,
      waiting: source?.waiting ?? false,
      alone: source?.alone ?? false,
      mayLead:
        this.role === Role.Standby &&
        this.receiver === undefined &&
        this.log.standbyLog !== undefined &&
        this.mayLead(),
      catchUps: {
        sent: this.counts.catchUpsSent + (source?.catchUpsSent ?? 0),
        received: this.counts.catchUps,
      },
      fullCopies: {
        sent: this.counts.fullCopiesSent + (source?.fullCopiesSent ?? 0),
        received: this.counts.fullCopies,
      },
    };
  }

  /** The node stops: no more role changes, no more streams (their sockets would hold the listener). */
  stop(): void {
    this.closed = true;
    this.wake();
    this.receiver?.close('the node stops');
    this.closeSource('the node stops');
  }

  private closing: Promise<void> | undefined;

  /** After stop: the log is closed and the directory released. */
  private close(): Promise<void> {
    this.closing ??= this.closeLog();
    return this.closing;
  }

  private async closeLog(): Promise<void> {
    this.stop();
    await this.chain;
    try {
      await (this.log.primary ?? this.log.standbyLog)?.close();
    } finally {
      await this.directory.release();
    }
  }
}
