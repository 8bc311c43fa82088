/**
 * One member of a shard (docs/replication.md): its role — primary, standby, or candidate while a
 * promotion runs — its term, and every change of role: start-up discovery, the claim and fence
 * round of leading, stepping down on a higher term, and the `x-role` / `x-promote` / `x-fence` /
 * `x-replicate` answers (ShardControl, for the node server). Role changes run one at a time
 * (`serial`). What a standby does while following is standby-side.ts; what a primary does for
 * its standbys is primary-side.ts; the persisted state is state-file.ts's StateStore.
 */
import type { Socket } from 'node:net';
import type { BinlogOptions } from '../binlog';
import { LogDirectory } from '../binlog/log-directory';
import type { Engine } from '../engine/engine';
import { QuickLooks } from '../net/timers';
import type { ReplicateRequest } from '../protocol/commands';
import { Role, type RoleView, type ShardControl } from '../server/shard';
import { decideStart } from './discovery';
import { MemberLog } from './member-log';
import { askRole, type PeerAddress, type PeerRole, parseAddress } from './peer';
import { PrimarySide } from './primary-side';
import { Claim } from './promotion';
import { StandbySide } from './standby-side';
import { type MemberState, newId, StateStore } from './state-file';

/** Peers are asked their role this often while a member has no primary (and by a primary). */
export const POLL_MS = 500;
/**
 * A fenced member (a candidate elsewhere claims a higher term) asks its peers again at once, then
 * after QUICK_LOOK_MS, each wait a quarter longer than the last while shorter than POLL_MS (25, 31,
 * 39, 49 … 454 ms: 14 looks over ~2 s): it follows the new primary within a quarter of the time the
 * promotion took, not at its next poll — the promoted primary's writes wait for an in-sync standby
 * (docs/failover.md, "writes back").
 */
export const QUICK_LOOK_MS = 25;
const ASK_TIMEOUT_MS = 1000;

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
  private readonly standby: StandbySide;
  private readonly primarySide: PrimarySide;
  /** The claim to lead whose fence round may be in flight (one at a time: serial). */
  private readonly claimRound = new Claim();
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeLoop: (() => void) | undefined;
  private lastWait = '';
  /** Armed by a fence: the looks while the promotion that fenced this member completes. */
  private readonly quickLooks = new QuickLooks(QUICK_LOOK_MS, POLL_MS, { active: false, growth: 1.25 });

  private constructor(
    private readonly options: MemberOptions,
    private readonly directory: LogDirectory,
    private readonly store: StateStore,
  ) {
    this.log = new MemberLog(() => this.close());
    this.peers = options.peers.map(parseAddress);
    this.standby = new StandbySide(directory, this.log, store, {
      engine: () => this.engine,
      advertise: () => this.host?.advertise || '-',
      stopping: () => this.closed,
      armTimer: () => this.host?.armTimer(),
      wake: () => this.wake(),
      token: options.token,
      log: options.log,
    });
    this.primarySide = new PrimarySide(this.log, options);
  }

  /** Locks and opens DIR as a standby's log (no role yet), reading or making the member's state. */
  static async open(options: MemberOptions): Promise<Member> {
    const directory = await LogDirectory.open(options.dir, options.binlog);
    try {
      const member = new Member(options, directory, new StateStore(options.dir));
      member.standby.open();
      return member;
    } catch (err) {
      await directory.release();
      throw err;
    }
  }

  private get state(): Readonly<MemberState> {
    return this.store.value;
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
    return this.standby.restore(engine);
  }

  /** Once the node listens: look for a primary (or lead), and keep doing so. */
  start(host: MemberHost): void {
    this.host = host;
    void this.loop();
  }

  private get engine(): Engine {
    return (this.host as MemberHost).engine;
  }

  private persist(change: Partial<MemberState>): void {
    this.store.persist(change);
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
      const waitMs = this.nextWaitMs();
      await new Promise<void>((resolve) => {
        this.wakeLoop = resolve;
        this.timer = setTimeout(resolve, waitMs);
      });
    }
  }

  /** A quick look while a fence's promotion may still be completing and nothing is followed; else the poll. */
  private nextWaitMs(): number {
    if (this.role === Role.Primary || this.standby.streaming) this.quickLooks.stop();
    return this.quickLooks.next() ?? POLL_MS;
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
    if (this.closed || this.role === Role.Candidate || this.standby.streaming) return;
    const peers = await this.askPeers();
    if (this.closed) return;
    if (this.role === Role.Primary) {
      const higher = peers.find((p) => p.term > this.state.term);
      if (higher) await this.stepDown(`${higher.address} knows term ${higher.term}`, higher.term);
      return;
    }
    const at = this.standby.follower.position();
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
    const at = this.standby.follower.position();
    if (at.lastLsn === 0 && this.state.primaryTerm === 0) return !this.options.standby;
    return this.state.primaryTerm > 0 && this.state.primaryTerm === at.lastTerm;
  }

  private async follow(address: string): Promise<void> {
    const outcome = await this.standby.follow(address);
    if (outcome.kind === 'wait') this.noteWait(outcome.reason);
    else if (outcome.kind === 'following') this.lastWait = '';
  }

  private noteWait(reason: string): void {
    if (reason === this.lastWait) return;
    this.lastWait = reason;
    this.options.log.info(`replication: ${reason}`);
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
    this.standby.end(`candidate at term ${term}`);
    if (force) return undefined;
    const at = this.standby.follower.position();
    const request = { term, lastTerm: at.lastTerm, lastLsn: at.lastLsn, member: this.state.member };
    const needed = this.peers.length - this.options.syncStandbys;
    const refusal = await this.claimRound.run(this.peers, request, this.options.token, needed, at);
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
    this.standby.end('this member leads now');
    const binlog = await this.directory.promote(this.standby.follower, term);
    this.primarySide.lead(binlog, this.engine, term, this.state.shard);
    this.role = Role.Primary;
    this.lastWait = '';
    this.options.log.info(`replication: primary at term ${term} (log at LSN ${binlog.lastLsn()})`);
    this.host?.armTimer();
  }

  /**
   * A higher term is known: confirm nothing more, drop the clients, follow (after discovery).
   * `replyFirst`: a fence asked — its connection is a client's too, and must carry the `FENCED`
   * reply before the clients are dropped (the candidate counts it), so they are dropped once the
   * request is answered; nothing can be confirmed meanwhile (the log is frozen, writes refused).
   */
  private beginStepDown(reason: string, term: number, replyFirst = false): void {
    if (this.role !== Role.Primary) return;
    this.log.freeze();
    this.role = Role.Standby;
    if (term > this.state.term) this.persist({ term });
    this.options.log.warn(`replication: stepping down at term ${this.state.term}: ${reason}`);
    if (replyFirst) queueMicrotask(() => this.host?.dropClients());
    else this.host?.dropClients();
  }

  private async stepDown(reason: string, term: number): Promise<void> {
    this.beginStepDown(reason, term);
    const binlog = this.log.primary;
    if (binlog === undefined) return;
    this.primarySide.close(reason);
    await binlog.close();
    this.standby.rejoin();
    this.wake();
  }

  // ---- ShardControl ----------------------------------------------------------------------------

  replicate(socket: Socket, leftover: Buffer, req: ReplicateRequest): void {
    if (this.role !== Role.Primary || !this.primarySide.leading) {
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
    const word = this.primarySide.accept(socket, leftover, req);
    this.options.log.info(`replication: standby ${req.advertise} (${req.member}) connected: ${word}`);
  }

  promote(term: number, force: boolean): Promise<string> {
    return this.serial(async () => {
      if (this.role !== Role.Standby) return 'NOT_STANDBY';
      if (term <= this.state.term) return `TERM_NOT_HIGHER ${this.state.term}`;
      if (!force && !this.standby.inSync()) return 'NOT_IN_SYNC';
      const refusal = await this.candidacy(term, force);
      if (refusal !== undefined) return refusal;
      this.options.log.warn(`replication: promoted to term ${term}${force ? ' (forced)' : ''}`);
      await this.lead(term);
      const segments = this.log.primary?.segmentList ?? [];
      return `PROMOTED ${term} ${segments[segments.length - 1]?.firstLsn ?? 0}`;
    });
  }

  fence(term: number, lastTerm: number, lastLsn: number, member: string): string {
    const mine = this.log.position();
    if (
      term === this.state.term &&
      this.role === Role.Candidate &&
      this.claimRound.yieldsTo(mine, this.state.member, { lastTerm, lastLsn }, member)
    ) {
      return `FENCED ${this.role} ${mine.lastTerm} ${mine.lastLsn}`;
    }
    if (term <= this.state.term) return `TERM_NOT_HIGHER ${this.state.term} ${this.role}`;
    const before = this.role;
    this.persist({ term });
    this.quickLooks.reset();
    if (before === Role.Primary) {
      this.beginStepDown(`fenced by a candidate at term ${term}`, term, true);
      void this.serial(() => this.stepDown(`fenced at term ${term}`, term));
    } else {
      this.standby.end(`fenced at term ${term}`);
      this.wake();
    }
    return `FENCED ${before} ${mine.lastTerm} ${mine.lastLsn}`;
  }

  putLsnOf(id: number): number {
    if (this.options.syncStandbys === 0) return 0;
    return this.log.primary?.stateLsnOf(id) ?? 0;
  }

  view(): RoleView {
    const binlog = this.log.primary;
    const primary = this.primarySide;
    const at = this.log.position();
    const standbys = primary.standbys();
    const stream = this.standby.figures();
    return {
      role: this.role,
      term: this.state.term,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      durableLsn: at.durable,
      confirmedLsn: binlog ? Math.min(this.log.durableSeq(), at.lastLsn) : 0,
      inSync: binlog ? !primary.alone : this.standby.inSync(),
      primary: stream.primary,
      syncStandbys: this.options.syncStandbys,
      inSyncStandbys: standbys.filter((s) => s.inSync).length,
      standbys,
      lagRecords: stream.lagRecords,
      lagBytes: stream.lagBytes,
      lagSeconds: stream.lagSeconds,
      shard: this.state.shard,
      member: this.state.member,
      waiting: primary.waiting,
      alone: primary.alone,
      mayLead:
        this.role === Role.Standby &&
        !this.standby.streaming &&
        this.log.standbyLog !== undefined &&
        this.mayLead(),
      catchUps: { sent: primary.catchUpsSent, received: stream.catchUps },
      fullCopies: { sent: primary.fullCopiesSent, received: stream.fullCopies },
    };
  }

  /** The node stops: no more role changes, no more streams (their sockets would hold the listener). */
  stop(): void {
    this.closed = true;
    this.wake();
    this.standby.end('the node stops');
    this.primarySide.close('the node stops');
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
