/**
 * Two failures at once (docs/failover.md, "Two failures at once"): the primary and every in-sync
 * standby die, with real processes and a ledger of every acknowledged put and delete. The member
 * left was down while the shard went on writing, so it is behind and not in sync: nothing is
 * promoted automatically, `stalkd failover` without --force refuses, and `--force` promotes it
 * after saying what is lost — every change confirmed after its last LSN. The ledger shows exactly
 * that: the puts acknowledged while it was down are gone (the old members drop them when they
 * follow it), every other acknowledged put is delivered.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { acknowledgedSince, drain, primaryOf, rejoined, startTraffic } from '../support/failover-cluster';
import { FailoverLedger } from '../support/failover-ledger';
import { TrafficRun } from '../support/failover-traffic';
import {
  assertLedger,
  operatorFailover,
  startOneShard,
  untilProxyLogs,
  viaProxies,
} from '../support/failover-two';
import { pollUntil } from '../support/prometheus';
import { primariesSharingATerm, role, type Shard } from '../support/shard';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Member `m`'s log ends where the primary's does (no traffic runs). */
function untilCaughtUp(shard: Shard, m: number, primary: number): Promise<unknown> {
  return pollUntil(
    `member ${m} holding the primary's whole log`,
    async () => {
      const [mine, theirs] = await Promise.all([
        role(shard.members[m]?.port as number),
        role(shard.members[primary]?.port as number),
      ]);
      return mine.get('last-lsn') === theirs.get('last-lsn') ? true : undefined;
    },
    20_000,
    20,
  );
}

test('two failures: the primary and every in-sync standby die — nothing promoted; --force promotes the member left and loses exactly what it had not got', async () => {
  const c = await startOneShard(cleanups, 1, 30_000);
  const shard = c.shards[0] as Shard;
  const port = c.proxies[0]?.port as number;
  const tube = c.tubes[0] as string;
  const ledger = new FailoverLedger();
  // Every member holds what the first traffic wrote.
  const first = await startTraffic(c, ledger, cleanups);
  await first.stopAll();
  await untilCaughtUp(shard, 2, 0);
  // Member 2 goes down; the shard writes on (member 1 in sync).
  await shard.kill(2);
  const downAtMs = Date.now();
  const behind = new TrafficRun(ledger);
  cleanups.push(() => behind.stopAll());
  behind.producer(port, 0, tube, 'behind');
  await acknowledgedSince(ledger, 0, downAtMs, 20);
  await behind.stopAll();
  const givenUp = new Set(
    ledger.puts.filter((p) => p.id !== null && p.sentAtMs >= downAtMs).map((p) => p.body),
  );

  // The two failures: the primary and its only in-sync standby. Member 2 comes back behind.
  ledger.fault('kill-primary', 0);
  await Promise.all([shard.kill(0), shard.kill(1)]);
  await shard.start(2);
  const left = await role(shard.members[2]?.port as number);
  assert.equal(left.get('in-sync'), 'false', 'a member started again is not in sync');
  await untilProxyLogs(c, 0, /no failover .*no in-sync standby/).catch((e: Error) => {
    throw new Error(`${e.message}\n${c.proxies[0]?.process.stderr().slice(-3000)}`);
  });
  const refused = await operatorFailover(c, false);
  assert.equal(refused.status, 1, refused.out);
  assert.match(refused.out, /no standby is in sync.*--force/);
  const forced = await operatorFailover(c, true);
  assert.equal(forced.status, 0, forced.out);
  assert.match(
    forced.out,
    new RegExp(
      `WARNING: ${viaProxies(c, 2)} is not in sync\\. Every change the former primary confirmed after LSN ${left.get('last-lsn')} \\(term \\d+\\) is lost`,
    ),
  );
  await untilProxyLogs(
    c,
    0,
    new RegExp(`primary changed shard=node-0 reason=adopted .*to=${viaProxies(c, 2)}`),
  );

  // The old members come back and follow the promoted one, dropping what it never had.
  const again = new TrafficRun(ledger);
  cleanups.push(() => again.stopAll());
  again.producer(port, 0, tube, 'again');
  again.consumer(port, c.tubes);
  await shard.start(1);
  await shard.start(0);
  await rejoined(shard, 1);
  await rejoined(shard, 0);
  assert.equal(await primaryOf(shard), 2);
  const resumedAtMs = Date.now();
  await acknowledgedSince(ledger, 0, resumedAtMs, 10);

  await drain(c, ledger, again, givenUp);
  await assertLedger(c, ledger, givenUp);
  assert.ok(givenUp.size >= 20);
  assert.deepEqual(
    ledger.report().lost.sort(),
    [...givenUp].sort(),
    'lost: exactly the puts acknowledged while the promoted member was down',
  );
  assert.deepEqual(await primariesSharingATerm(shard.members.map((m) => m.port)), []);
});
