/**
 * Automatic failover (docs/failover.md): the proxy watches every shard with replicas, finds its
 * primary by asking the members' `x-role`, and promotes a standby when the primary has failed for
 * `failoverAfterMs`.
 *
 * - **Finding the primary.** Every `pollIntervalMs` (and once before the proxy listens) each
 *   member is asked `x-role`; the member that says `primary` with the highest term is where the
 *   shard's commands go (Shard.switchTo). That is how a proxy started later finds the primaries,
 *   how a proxy that lost a race adopts the winner, and how all proxies converge.
 * - **Failing.** The clock starts at the primary's first failure (a refused, reset or timed-out
 *   connection: node-pool.ts) or at the first poll where it does not answer as primary; a poll
 *   that finds it primary again at the highest term stops it (a flaky primary is not promoted-over).
 * - **Promoting.** After `failoverAfterMs` of failing, and at least `failoverAfterMs` after this
 *   proxy's last promotion of the shard (no flapping), the most advanced in-sync standby
 *   ((last-term, last-lsn) order) is sent `x-promote <highest term seen + 1>`. The standby's term
 *   check and fence decide between racing proxies: a refusal is logged and the shard looked at again
 *   soon (QUICK_LOOK_MS, backing off to the poll) to adopt whoever won or try again. No in-sync
 *   standby: nothing is promoted (`stalkd failover --force` is the operator's call); a member in
 *   promotion (`candidate`) is waited for, looked at as soon.
 */
import { QuickLooks, realTimers, type Timers } from '../../net/timers';
import { memberAddress } from '../topology';
import { promoteMember } from './member-requests';
import { compareLogs, type MemberRole, MemberRoleName } from './member-role';
import type { NodeLink, NodePool } from './node-pool';
import type { Shard } from './shard';

export const DEFAULT_FAILOVER_AFTER_MS = 2000;
export const DEFAULT_ROLE_POLL_MS = 500;
/** x-promote fences the peers (up to 2 s at the standby) and fsyncs a new segment. */
const PROMOTE_TIMEOUT_MS = 10_000;
/**
 * While a promotion is under way (a member answers `candidate`) or after this proxy's x-promote
 * was refused in a race, the shard is looked at again after this long rather than at the next
 * poll, doubling at each look in a row while shorter than the poll (50, 100, 200, 400 ms at the
 * default 500 ms): the winner is adopted, or a promotion that nobody won tried again, within tens
 * of milliseconds, and a refusal that lasts falls back to the poll. Each wait is drawn between
 * half and all of it, so proxies that lost the same race do not look again in step.
 */
const QUICK_LOOK_MS = 50;
/**
 * Answers to x-promote that another promotion explains (docs/replication.md, *Promotion*): a
 * higher or equal term already claimed, the standby already promoted, too few fences (peers at a
 * higher term, or not answering), or a more advanced standby found (promote that one).
 */
const RACED = /^(TERM_NOT_HIGHER|NOT_STANDBY|NOT_FENCED|NOT_MOST_ADVANCED)\b/;

export interface FailoverOptions {
  failoverAfterMs: number;
  pollIntervalMs: number;
  /** `x-auth` token for x-promote (`--shard-token`). */
  shardToken: string | undefined;
  timers: Timers;
  nowMs: () => number;
  /** In [0, 1): spreads the quick looks (QUICK_LOOK_MS) of proxies that lost the same race. */
  random: () => number;
}

export const defaultFailoverOptions: FailoverOptions = {
  failoverAfterMs: DEFAULT_FAILOVER_AFTER_MS,
  pollIntervalMs: DEFAULT_ROLE_POLL_MS,
  shardToken: undefined,
  timers: realTimers,
  nowMs: () => Date.now(),
  random: Math.random,
};

/** Why a shard's primary changed (the `reason` label of stalkd_proxy_failovers_total). */
export const FailoverReason = {
  /** This proxy promoted a standby: the primary was down, stalled or no longer primary. */
  PrimaryFailed: 'primary_failed',
  /** Another primary with a higher term was found (another proxy or an operator promoted it). */
  Adopted: 'adopted',
} as const;
export type FailoverReason = (typeof FailoverReason)[keyof typeof FailoverReason];

export interface FailoverEvents {
  /** Commands to `shard` now go to `to` (`from` the former primary's address). */
  primaryChanged(
    shard: string,
    reason: FailoverReason,
    from: string,
    to: string,
    term: number,
    seconds: number,
  ): void;
  /** A promotion was not made or refused (logged; the next poll adopts any winner). */
  promotionRefused(shard: string, member: string, answer: string): void;
  /** One look at the shard is over (tests wait for it). */
  checked?(shard: string): void;
}

export const noFailoverEvents: FailoverEvents = { primaryChanged: () => {}, promotionRefused: () => {} };

/** What the proxy knows of one shard (metrics, dashboard). */
export interface ShardStatus {
  shard: string;
  index: number;
  primary: string;
  /** The current primary's term (0 until one answered). */
  term: number;
  /** Since when the primary has been failing (ms since the epoch), or null. */
  failingSinceMs: number | null;
  members: Array<{ address: string; up: boolean; role: MemberRole | null }>;
  /** Standbys in sync according to their own x-role. */
  inSyncStandbys: number;
  /** The last change of primary this proxy made or saw, or null. */
  lastChange: PrimaryChange | null;
}

export interface PrimaryChange {
  reason: FailoverReason;
  from: string;
  to: string;
  term: number;
  atMs: number;
  /** Made at this proxy's first look at the shard: a primary found (adopted), not seen changing. */
  atStart: boolean;
}

class ShardWatch {
  primaryTerm = 0;
  failingSinceMs: number | null = null;
  lastPromotionAtMs = Number.NEGATIVE_INFINITY;
  roles = new Map<NodeLink, MemberRole | null>();
  busy = false;
  again = false;
  lastChange: PrimaryChange | null = null;
  /** The first look at the shard is over (a change before then is a primary found at start). */
  looked = false;
  deadlineTimer: unknown = null;
  /** Quick looks in a row since the shard last had a primary this proxy follows (QUICK_LOOK_MS). */
  readonly quickLooks: QuickLooks;
  quickTimer: unknown = null;
  constructor(
    readonly shard: Shard,
    pollIntervalMs: number,
  ) {
    this.quickLooks = new QuickLooks(QUICK_LOOK_MS, pollIntervalMs);
  }
}

export class Failover {
  private watches: ShardWatch[];
  private pollTimer: unknown = null;
  private closed = false;

  constructor(
    pool: NodePool,
    private readonly options: FailoverOptions = defaultFailoverOptions,
    private readonly events: FailoverEvents = noFailoverEvents,
  ) {
    this.watches = this.watchesFor(pool, []);
  }

  /** After a topology reload: shards kept keep their watch, new ones are looked at before routing. */
  async follow(pool: NodePool): Promise<void> {
    const before = this.watches;
    this.watches = this.watchesFor(pool, before);
    for (const w of before) if (!this.watches.includes(w)) this.unwatch(w);
    await Promise.all(this.watches.filter((w) => !before.includes(w)).map((w) => this.check(w)));
  }

  private watchesFor(pool: NodePool, existing: ShardWatch[]): ShardWatch[] {
    return pool
      .all()
      .filter((s) => s.replicated)
      .map((shard) => {
        const kept = existing.find((w) => w.shard === shard);
        if (kept) return kept;
        const w = new ShardWatch(shard, this.options.pollIntervalMs);
        shard.onPrimaryFailure = () => this.primaryFailed(w);
        return w;
      });
  }

  private unwatch(w: ShardWatch): void {
    if (w.deadlineTimer) this.options.timers.clear(w.deadlineTimer);
    w.deadlineTimer = null;
    if (w.quickTimer) this.options.timers.clear(w.quickTimer);
    w.quickTimer = null;
    w.shard.onPrimaryFailure = null;
  }

  /** One round over every shard (the proxy runs it once before it listens), then polls. */
  async start(): Promise<void> {
    await Promise.all(this.watches.map((w) => this.check(w)));
    this.schedulePoll();
  }

  status(): ShardStatus[] {
    return this.watches.map((w) => {
      const members = w.shard.members.map((m) => ({
        address: memberAddress(m.node),
        up: m.up,
        role: w.roles.get(m) ?? null,
      }));
      return {
        shard: w.shard.name,
        index: w.shard.index,
        primary: memberAddress(w.shard.node),
        term: w.primaryTerm,
        failingSinceMs: w.failingSinceMs,
        members,
        inSyncStandbys: members.filter((m) => m.role?.role === MemberRoleName.Standby && m.role.inSync)
          .length,
        lastChange: w.lastChange,
      };
    });
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer) this.options.timers.clear(this.pollTimer);
    for (const w of this.watches) this.unwatch(w);
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = this.options.timers.set(() => {
      for (const w of this.watches) void this.check(w);
      this.schedulePoll();
    }, this.options.pollIntervalMs);
  }

  /** The primary's connection failed: start the clock, look again when it runs out. */
  private primaryFailed(w: ShardWatch): void {
    if (this.closed) return;
    w.failingSinceMs ??= this.options.nowMs();
    if (w.deadlineTimer) this.options.timers.clear(w.deadlineTimer);
    const leftMs = w.failingSinceMs + this.options.failoverAfterMs - this.options.nowMs();
    w.deadlineTimer = this.options.timers.set(
      () => {
        w.deadlineTimer = null;
        void this.check(w);
      },
      Math.max(0, leftMs),
    );
  }

  /** One look at a shard: adopt the highest-term primary, or count the failure and maybe promote. */
  private async check(w: ShardWatch): Promise<void> {
    if (w.busy) {
      w.again = true;
      return;
    }
    w.busy = true;
    try {
      do {
        w.again = false;
        await this.checkOnce(w);
        w.looked = true;
      } while (w.again && !this.closed);
    } finally {
      w.busy = false;
    }
    this.events.checked?.(w.shard.name);
  }

  private async checkOnce(w: ShardWatch): Promise<void> {
    const shard = w.shard;
    const answers = await Promise.all(shard.members.map((m) => m.askRole()));
    if (this.closed) return;
    shard.members.forEach((m, i) => {
      w.roles.set(m, answers[i] ?? null);
    });
    const highest = highestPrimary(shard, answers);
    if (highest && highest.link !== shard.primary && highest.role.term > w.primaryTerm) {
      this.switchPrimary(w, highest.link, highest.role.term, FailoverReason.Adopted);
    }
    const current = w.roles.get(shard.primary);
    if (current?.role === MemberRoleName.Primary && (!highest || current.term >= highest.role.term)) {
      w.primaryTerm = current.term;
      w.failingSinceMs = null;
      w.quickLooks.reset();
      return;
    }
    if (answers.some((r) => r?.role === MemberRoleName.Candidate)) this.lookAgainSoon(w);
    const nowMs = this.options.nowMs();
    w.failingSinceMs ??= nowMs;
    const failedLongEnough = nowMs - w.failingSinceMs >= this.options.failoverAfterMs;
    const sinceLastMs = nowMs - w.lastPromotionAtMs;
    if (failedLongEnough && sinceLastMs >= this.options.failoverAfterMs) await this.promote(w, answers);
  }

  private async promote(w: ShardWatch, answers: Array<MemberRole | null>): Promise<void> {
    const shard = w.shard;
    if (answers.some((r) => r?.role === MemberRoleName.Candidate)) return; // another promotion runs
    const standbys = shard.members
      .map((link, i) => ({ link, role: answers[i] }))
      .filter((c): c is { link: NodeLink; role: MemberRole } => c.role?.role === MemberRoleName.Standby);
    const inSync = standbys.filter((c) => c.role.inSync).sort((a, b) => compareLogs(a.role, b.role));
    const chosen = inSync[0];
    if (!chosen) {
      const why = standbys.length === 0 ? 'no standby answers' : 'no in-sync standby';
      this.events.promotionRefused(shard.name, '-', why);
      return;
    }
    const term = Math.max(w.primaryTerm, ...answers.map((r) => r?.term ?? 0)) + 1;
    const answer = await promoteMember(
      chosen.link.node,
      term,
      false,
      this.options.shardToken,
      PROMOTE_TIMEOUT_MS,
    );
    if (this.closed) return;
    if (answer?.startsWith('PROMOTED ')) {
      w.lastPromotionAtMs = this.options.nowMs();
      this.switchPrimary(w, chosen.link, term, FailoverReason.PrimaryFailed);
    } else {
      this.events.promotionRefused(shard.name, memberAddress(chosen.link.node), answer ?? 'no answer');
      if (answer && RACED.test(answer)) this.lookAgainSoon(w);
    }
  }

  /** Another look at `w` soon: QUICK_LOOK_MS doubled per look in a row, while shorter than the poll. */
  private lookAgainSoon(w: ShardWatch): void {
    if (this.closed || w.quickTimer) return;
    const waitMs = w.quickLooks.next();
    if (waitMs === undefined) return; // the poll looks as soon
    w.quickTimer = this.options.timers.set(
      () => {
        w.quickTimer = null;
        void this.check(w);
      },
      waitMs * (0.5 + this.options.random() / 2),
    );
  }

  private switchPrimary(w: ShardWatch, link: NodeLink, term: number, reason: FailoverReason): void {
    const from = memberAddress(w.shard.node);
    const since = w.failingSinceMs;
    const seconds = since === null ? 0 : (this.options.nowMs() - since) / 1000;
    w.shard.switchTo(link);
    const atMs = this.options.nowMs();
    w.lastChange = { reason, from, to: memberAddress(link.node), term, atMs, atStart: !w.looked };
    w.primaryTerm = term;
    w.failingSinceMs = null;
    if (w.deadlineTimer) this.options.timers.clear(w.deadlineTimer);
    w.deadlineTimer = null;
    w.quickLooks.reset();
    this.events.primaryChanged(w.shard.name, reason, from, memberAddress(link.node), term, seconds);
  }
}

/** The member answering `primary` with the highest term, if any. */
function highestPrimary(
  shard: Shard,
  answers: Array<MemberRole | null>,
): { link: NodeLink; role: MemberRole } | undefined {
  let best: { link: NodeLink; role: MemberRole } | undefined;
  shard.members.forEach((link, i) => {
    const role = answers[i];
    if (role?.role === MemberRoleName.Primary && (!best || role.term > best.role.term)) best = { link, role };
  });
  return best;
}
