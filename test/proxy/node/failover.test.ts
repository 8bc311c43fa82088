/**
 * The proxy's failover against scripted shard members (test/support/fake-member.ts): which
 * standby is promoted and at which term, never an out-of-sync one, racing proxies converging on
 * the winner, a later proxy finding the primary, no promotion of a flaky primary or more than
 * one per failoverAfterMs, and the quick looks after a lost race (those on injected timers and clock).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { proxyClusterView } from '../../../src/cli/proxy-view';
import { shardFields } from '../../../src/dashboard/collector';
import type { Timers } from '../../../src/net/timers';
import type { FailoverEvents, FailoverOptions } from '../../../src/proxy/node/failover';
import { type ProxyServer, startProxyServer } from '../../../src/proxy/server';
import { FakeMember, type FakeRole } from '../../support/fake-member';
import { localShard, RawClient } from '../../support/proxy-harness';

const primary = (term: number, lastLsn: number): FakeRole => ({
  role: 'primary',
  term,
  lastTerm: term,
  lastLsn,
  inSync: true,
});
const standby = (term: number, lastLsn: number, inSync = true): FakeRole => ({
  role: 'standby',
  term,
  lastTerm: term,
  lastLsn,
  inSync,
});

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Recorded {
  changes: Array<{ reason: string; from: string; to: string; term: number }>;
  refusals: string[];
  checks: number;
}

function recordingEvents(): FailoverEvents & { log: Recorded; waitFor(cond: () => boolean): Promise<void> } {
  const log: Recorded = { changes: [], refusals: [], checks: 0 };
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  return {
    log,
    primaryChanged: (_shard, reason, from, to, term) => {
      log.changes.push({ reason, from, to, term });
      wake();
    },
    promotionRefused: (_shard, _member, answer) => {
      log.refusals.push(answer);
      wake();
    },
    checked: () => {
      log.checks++;
      wake();
    },
    /** Resolves when `cond` holds after some event (a check, a change, a refusal); fails after 10 s. */
    async waitFor(cond) {
      const deadline = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error('condition not reached in 10 s');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100).unref(); // re-check at least every 100 ms (bounded by the deadline)
        });
      }
    },
  };
}

async function proxyOver(
  members: FakeMember[],
  failover: Partial<FailoverOptions>,
  events: FailoverEvents,
): Promise<ProxyServer> {
  const [first, ...rest] = members as [FakeMember, ...FakeMember[]];
  const proxy = await startProxyServer({
    port: 0,
    nodes: [localShard(0, first.port, ...rest.map((m) => m.port))],
    pool: { nodeTimeoutMs: 200, probeIntervalMs: 50, backoffMinMs: 20, backoffMaxMs: 100 },
    failover: { failoverAfterMs: 300, pollIntervalMs: 50, ...failover },
    failoverEvents: events,
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function members(...roles: FakeRole[]): Promise<FakeMember[]> {
  const list = await Promise.all(roles.map((r) => FakeMember.start(r)));
  cleanups.push(() => Promise.all(list.map((m) => m.kill().catch(() => {}))).then(() => {}));
  return list;
}

/** Puts through the proxy until one is INSERTED; returns the replies seen. */
async function putUntilInserted(port: number): Promise<string[]> {
  const client = await RawClient.open(port);
  const seen: string[] = [];
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const line = (await client.cmd('put 0 0 60 1', 'x')).line;
      seen.push(line);
      if (line.startsWith('INSERTED')) return seen;
      if (Date.now() > deadline) throw new Error(`no INSERTED in 10 s: ${seen.slice(-3).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // pacing between attempts, not synchronisation
    }
  } finally {
    client.close();
  }
}

describe('failover', () => {
  test('failover: a killed primary is replaced by the most advanced in-sync standby at term + 1', async () => {
    const [p, s1, s2, s3] = await members(
      primary(3, 10),
      standby(3, 9),
      standby(3, 10),
      standby(3, 40, false),
    );
    const events = recordingEvents();
    const proxy = await proxyOver([p!, s1!, s2!, s3!], {}, events);
    assert.deepEqual(await putUntilInserted(proxy.port), ['INSERTED 1']);
    const killedAtMs = Date.now();
    await p!.kill();
    const replies = await putUntilInserted(proxy.port);
    assert.ok(
      replies.slice(0, -1).every((l) => l === 'INTERNAL_ERROR'),
      replies.join(','),
    );
    assert.ok(Date.now() - killedAtMs >= 300, 'not before failoverAfterMs of failing');
    assert.deepEqual(s2!.promotes, ['x-promote 4'], 'the most advanced in-sync standby, at term + 1');
    assert.deepEqual([...s1!.promotes, ...s3!.promotes], [], 'never an out-of-sync one while one is in sync');
    assert.equal(s2!.puts.length, 1);
    assert.deepEqual(events.log.changes, [
      { reason: 'primary_failed', from: p!.address, to: s2!.address, term: 4 },
    ]);
    assert.equal(proxy.failover.status()[0]?.term, 4);
  });

  test('failover: with no in-sync standby nothing is promoted, and the reason is said', async () => {
    const [p, s1] = await members(primary(2, 5), standby(2, 5, false));
    const events = recordingEvents();
    const proxy = await proxyOver([p!, s1!], {}, events);
    await p!.kill();
    await events.waitFor(() => events.log.refusals.length >= 2);
    assert.deepEqual([...new Set(events.log.refusals)], ['no in-sync standby']);
    assert.deepEqual(s1!.promotes, []);
    assert.equal(proxy.pool.get(0)?.node.port, p!.port);
  });

  test('failover: two racing proxies — the term check decides, the loser adopts the winner', async () => {
    const [p, s1, s2] = await members(primary(7, 3), standby(7, 3), standby(7, 2));
    const a = recordingEvents();
    const b = recordingEvents();
    const proxyA = await proxyOver([p!, s1!, s2!], {}, a);
    const proxyB = await proxyOver([p!, s1!, s2!], {}, b);
    await p!.kill();
    await a.waitFor(() => a.log.changes.length > 0);
    await b.waitFor(() => b.log.changes.length > 0);
    assert.equal(proxyA.pool.get(0)?.node.port, s1!.port);
    assert.equal(proxyB.pool.get(0)?.node.port, s1!.port);
    assert.equal(s1!.state.term, 8);
    assert.deepEqual(s2!.promotes, []);
    const reasons = [...a.log.changes, ...b.log.changes].map((c) => `${c.reason}@${c.term}`).sort();
    assert.deepEqual(
      reasons,
      ['adopted@8', 'primary_failed@8'],
      'one promotion wins, the other proxy adopts it',
    );
    // The other proxy either lost the race (its x-promote was refused) or adopted the winner first.
    assert.ok(
      s1!.promotes.length >= 1 && s1!.promotes.every((c) => c === 'x-promote 8'),
      s1!.promotes.join(', '),
    );
  });

  test('failover: a proxy started later finds the primary by asking the members', async () => {
    const [old, promoted, other] = await members(standby(5, 8), primary(5, 8), standby(5, 8));
    const events = recordingEvents();
    const proxy = await proxyOver([old!, promoted!, other!], {}, events);
    assert.equal(proxy.pool.get(0)?.node.port, promoted!.port, 'switched before listening');
    assert.deepEqual(
      events.log.changes.map((c) => c.reason),
      ['adopted'],
    );
    // Found at start, not seen happening: the dashboard shows no failover; its members line says
    // which member leads.
    const row = shardFields(proxyClusterView(proxy).nodes()[0]?.shard);
    assert.equal(row.failover, '');
    assert.match(
      row.members,
      new RegExp(`^term 5: ${old!.address} standby .* · ${promoted!.address} primary · `),
    );
    assert.deepEqual(await putUntilInserted(proxy.port), ['INSERTED 1']);
    assert.equal(promoted!.puts.length, 1);
    assert.deepEqual([...old!.promotes, ...promoted!.promotes, ...other!.promotes], []);
  });

  test('failover: a flaky primary is not promoted over; at most one promotion per failoverAfterMs', async () => {
    // Only the failover's clock decides when a promotion may happen; the members' answers come
    // over real sockets, so no step may depend on how fast they come: each waits for what the
    // watch did (failingSinceMs, a check, a change), and the clock moves in steps far inside the
    // failover time while it waits.
    const AFTER_MS = 10_000;
    const clock = new ManualClock();
    const [p, s1, s2] = await members(primary(1, 4), standby(1, 4), standby(1, 4));
    const events = recordingEvents();
    const proxy = await proxyOver(
      [p!, s1!, s2!],
      { timers: clock, nowMs: () => clock.nowMs, failoverAfterMs: AFTER_MS },
      events,
    );
    const pool = proxy.pool.get(0);
    assert.ok(pool);
    const failingSince = () => proxy.failover.status()[0]?.failingSinceMs ?? null;
    /** Moves the clock on in 50 ms steps until `cond`, never past `limitMs`. */
    const stepUntil = (cond: () => boolean, limitMs: number) =>
      events.waitFor(() => {
        if (cond()) return true;
        assert.ok(clock.nowMs + 50 < limitMs, 'the clock would reach a promotion');
        return clock.advanceFalse(50);
      });
    // Stalls (the link goes down on a timed-out probe), then answers again.
    p!.stall();
    await events.waitFor(() => !pool.primary.up);
    const stalledAt = failingSince();
    assert.ok(stalledAt !== null, 'the clock started at the first failure');
    clock.advance(AFTER_MS / 2);
    p!.stall(false);
    await events.waitFor(() => pool.primary.up);
    // A poll that finds it primary again stops the clock…
    await stepUntil(() => failingSince() === null, stalledAt + AFTER_MS);
    // …so going past failover-after since the stall promotes nothing.
    const checks = events.log.checks;
    clock.advance(stalledAt + 2 * AFTER_MS - clock.nowMs);
    await events.waitFor(() => events.log.checks > checks || clock.advanceFalse(50));
    assert.deepEqual([...s1!.promotes, ...s2!.promotes], [], 'a primary that answers again is kept');
    // Now it dies: one promotion, not before failover-after of failing.
    await p!.kill();
    await events.waitFor(() => failingSince() !== null);
    const diedAt = failingSince() as number;
    const sinceKill = events.log.checks;
    clock.advance(diedAt + AFTER_MS - 1 - clock.nowMs);
    await events.waitFor(() => events.log.checks > sinceKill || clock.advanceFalse(0));
    assert.deepEqual(events.log.changes, [], 'the earlier stall does not count towards this failure');
    clock.advance(1);
    // From here on a promotion is allowed: move the clock on until the (async) check has made it.
    await events.waitFor(() => events.log.changes.length === 1 || clock.advanceFalse(50));
    const first = pool.primary;
    assert.notEqual(first.node.port, p!.port);
    // The new primary dies at once: no second promotion within failover-after of the first.
    const promotedAt = clock.nowMs;
    const promotedMember = [s1!, s2!].find((m) => m.port === first.node.port);
    await promotedMember!.kill();
    await events.waitFor(() => failingSince() !== null);
    const before = events.log.checks;
    clock.advance(promotedAt + AFTER_MS - 1 - clock.nowMs);
    await events.waitFor(() => events.log.checks > before || clock.advanceFalse(0));
    assert.equal(events.log.changes.length, 1, 'no promote-over within failoverAfterMs of the last');
    clock.advance(AFTER_MS);
    await events.waitFor(() => events.log.changes.length === 2 || clock.advanceFalse(50));
  });
});

describe('failover: a lost race', () => {
  // A poll far away: only the quick looks after a refusal can act within these tests.
  const POLL_MS = 60_000;
  /** The proxy over p (killed), s1, s2 on an injected clock; a quick look waits its longest. */
  async function lostRace(pollIntervalMs: number) {
    const clock = new ManualClock();
    const [p, s1, s2] = await members(primary(7, 3), standby(7, 3), standby(7, 3));
    const events = recordingEvents();
    const proxy = await proxyOver(
      [p!, s1!, s2!],
      { timers: clock, nowMs: () => clock.nowMs, failoverAfterMs: 700, pollIntervalMs, random: () => 1 },
      events,
    );
    const shard = proxy.pool.get(0);
    assert.ok(shard);
    await p!.kill();
    await events.waitFor(() => !shard.primary.up);
    /** Fires the next timer due and waits for the look it starts. */
    const nextLook = async () => {
      const checks = events.log.checks;
      clock.advanceToNext();
      await events.waitFor(() => events.log.checks > checks);
    };
    return { clock, p: p!, s1: s1!, s2: s2!, events, nextLook };
  }

  test('failover: after a refused x-promote the winner is adopted at a quick look (50, then 100 ms), not at the next poll', async () => {
    const { clock, p, s1, s2, events, nextLook } = await lostRace(POLL_MS);
    // Another proxy's promotion of s2 is under way: s1 refuses, s2 answers candidate.
    s1.refusePromotion = 'TERM_NOT_HIGHER 8';
    await nextLook(); // failover-after has passed
    assert.deepEqual(events.log.refusals, ['TERM_NOT_HIGHER 8']);
    assert.deepEqual(s1.promotes, ['x-promote 8']);
    s2.state = { ...s2.state, role: 'candidate', term: 8 };
    await nextLook(); // sees the candidate: waits for it, looks again soon
    s2.state = { ...s2.state, role: 'primary', lastTerm: 8, lastLsn: 4 };
    await nextLook();
    assert.deepEqual(events.log.changes, [{ reason: 'adopted', from: p.address, to: s2.address, term: 8 }]);
    assert.deepEqual(clock.delays.slice(-2), [50, 100], 'two quick looks');
    assert.ok(clock.nowMs < 1_000_000 + POLL_MS, 'before any poll');
    assert.deepEqual(s2.promotes, [], 'the winner was adopted, not promoted again');
    assert.deepEqual(s1.promotes, ['x-promote 8'], 'nothing promoted while a candidate runs');
  });

  test('failover: a refusal that lasts is tried again after 50, 100, 200, 400 ms, then only at each poll', async () => {
    const { clock, s1, events, nextLook } = await lostRace(500);
    s1.refusePromotion = 'NOT_FENCED 0 1';
    const startedMs = clock.nowMs;
    const delaysBefore = clock.delays.length;
    while (clock.nowMs < startedMs + 2700) await nextLook();
    const quick = clock.delays.slice(delaysBefore).filter((d) => d !== 500);
    assert.deepEqual(quick, [50, 100, 200, 400], 'doubling while shorter than the poll, then none');
    // Tries: the first at 700 ms, four quick ones, and one per poll (500 ms) after those.
    assert.ok(
      events.log.refusals.length >= 6 && events.log.refusals.length <= 10,
      String(events.log.refusals.length),
    );
    assert.ok(events.log.refusals.every((r) => r === 'NOT_FENCED 0 1'));
    assert.deepEqual(events.log.changes, []);
  });
});

/** Timers and a clock the test moves: `advance` fires what is due. */
class ManualClock implements Timers {
  nowMs = 1_000_000;
  /** Every delay a timer was set for, in order. */
  readonly delays: number[] = [];
  private timers: Array<{ dueMs: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  set(fn: () => void, delayMs: number): unknown {
    this.delays.push(delayMs);
    const id = this.nextId++;
    this.timers.push({ dueMs: this.nowMs + delayMs, fn, id });
    return id;
  }
  clear(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    this.nowMs += ms;
    this.fireAll();
  }
  /** Moves the clock to the earliest timer due and fires it (and any due with it). */
  advanceToNext(): void {
    const next = Math.min(...this.timers.map((t) => t.dueMs));
    assert.ok(Number.isFinite(next), 'a timer is set');
    this.advance(Math.max(0, next - this.nowMs));
  }
  /** advance() inside a wait condition: moves the clock on, and is not the condition. */
  advanceFalse(ms: number): false {
    this.advance(ms);
    return false;
  }
  /** Fires every timer due now (each poll re-arms itself for later). */
  fireAll(): void {
    const due = this.timers.filter((t) => t.dueMs <= this.nowMs);
    this.timers = this.timers.filter((t) => t.dueMs > this.nowMs);
    for (const t of due) t.fn();
  }
}

test('failover: the dashboard view shows each member with role and lag, the failover, and a shard with no in-sync standby', async () => {
  const [p, s1, s2] = await members(primary(3, 10), standby(3, 10), standby(3, 4, false));
  const events = recordingEvents();
  const proxy = await proxyOver([p!, s1!, s2!], {}, events);
  const row = () => shardFields(proxyClusterView(proxy).nodes()[0]?.shard);
  const before = row();
  assert.equal(
    before.members,
    `term 3: ${p!.address} primary · ${s1!.address} standby in sync, lag 0 rec 0.0 s · ${s2!.address} standby NOT in sync, lag 0 rec 0.0 s`,
  );
  assert.equal(before.inSyncStandbys, 1);
  assert.equal(before.failover, '');
  await p!.kill();
  await events.waitFor(() => row().failing || events.log.changes.length > 0);
  await events.waitFor(() => events.log.changes.length === 1);
  const after = row();
  assert.match(
    after.failover,
    new RegExp(`^failover ${p!.address} → ${s1!.address} \\(term 4\\) at \\d\\d:\\d\\d:\\d\\d UTC$`),
  );
  assert.equal(after.failing, false);
  await events.waitFor(() => row().members.includes(`${s1!.address} primary`));
  assert.equal(row().inSyncStandbys, 0, 'the one standby left is not in sync: the row is marked');
  assert.deepEqual(shardFields(undefined), { members: '', inSyncStandbys: -1, failing: false, failover: '' });
});
