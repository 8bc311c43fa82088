/**
 * Two failures at once inside one shard (docs/failover.md, "Two failures at once"), with real
 * processes — one shard of a primary and two standbys behind proxies, producers and consumers
 * writing a ledger of every acknowledged put and delete, kill -9 — and every step waiting for an
 * event (a reply, a ledger entry, an x-role answer, a log line):
 * - the primary and one standby die together: the survivor cannot win its fence round (NOT_FENCED:
 *   no peer answers), `stalkd failover --force` promotes it, its writes wait until a standby
 *   returns, then complete; nothing acknowledged is lost;
 * - both standbys die: the primary keeps serving reads (peek, stats-job, reserve), its writes wait
 *   and complete once a standby returns — through a proxy for at most its --node-timeout-ms, after
 *   which the client gets INTERNAL_ERROR; nothing acknowledged is lost.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { drain, primaryOf, rejoined, startTraffic } from '../support/failover-cluster';
import { FailoverLedger } from '../support/failover-ledger';
import {
  assertLedger,
  operatorFailover,
  restartWhileWritesWait,
  startOneShard,
  untilProxyLogs,
  untilWriteWaits,
  viaProxies,
} from '../support/failover-two';
import { pollUntil } from '../support/prometheus';
import { RawClient } from '../support/proxy-harness';
import { primariesSharingATerm, type Shard } from '../support/shard';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Long enough for a killed standby to be started again while a write waits (kills are seen at once). */
const PATIENT_NODE_TIMEOUT_MS = 30_000;

test('two failures: the primary and one standby die together — forced promotion of the survivor, writes wait for a standby, nothing lost', async () => {
  const c = await startOneShard(cleanups, 1, PATIENT_NODE_TIMEOUT_MS);
  const shard = c.shards[0] as Shard;
  const ledger = new FailoverLedger();
  const traffic = await startTraffic(c, ledger, cleanups);

  ledger.fault('kill-primary', 0);
  await Promise.all([shard.kill(0), shard.kill(1)]);
  const deadAtMs = Date.now();
  // The proxy offers the survivor x-promote; its fence round reaches no peer: refused.
  await untilProxyLogs(c, 0, /no failover .*NOT_FENCED 0 1/);
  const forced = await operatorFailover(c, true);
  assert.equal(forced.status, 0, forced.out);
  assert.match(forced.out, /PROMOTED \d+ \d+/);
  await untilProxyLogs(
    c,
    0,
    new RegExp(`primary changed shard=node-0 reason=adopted .*to=${viaProxies(c, 2)}`),
  );
  // The promoted member has no standby: a put reaches it and waits.
  await untilWriteWaits(shard, 2);
  await restartWhileWritesWait(ledger, shard, 1, deadAtMs);
  await rejoined(shard, 1);
  await shard.start(0); // the old primary follows the promoted member
  await rejoined(shard, 0);
  assert.equal(await primaryOf(shard), 2);

  await drain(c, ledger, traffic);
  await assertLedger(c, ledger);
  assert.deepEqual(await primariesSharingATerm(shard.members.map((m) => m.port)), []);
});

test('two failures: both standbys die — the primary serves reads, writes wait and complete once a standby returns, nothing lost', async () => {
  // Proxy 0 waits for a write as long as it takes; proxy 1 gives up after 1 s (INTERNAL_ERROR).
  const c = await startOneShard(cleanups, 2, PATIENT_NODE_TIMEOUT_MS, (p) =>
    p === 0 ? PATIENT_NODE_TIMEOUT_MS : 1000,
  );
  const shard = c.shards[0] as Shard;
  const ledger = new FailoverLedger();
  const reader = await RawClient.open(c.proxies[0]?.port as number);
  cleanups.push(async () => reader.socket.destroy());
  await reader.cmd('use aside');
  const kept = /^INSERTED (\d+)$/.exec((await reader.cmd('put 0 0 120 4', 'kept')).line)?.[1];
  assert.ok(kept, 'a job put aside for the reads');
  const traffic = await startTraffic(c, ledger, cleanups);

  ledger.fault('kill-standby', 0);
  await Promise.all([shard.kill(1), shard.kill(2)]);
  const deadAtMs = Date.now();
  // Reads: the primary answers them (the job was confirmed before the standbys died).
  assert.equal((await reader.cmd(`peek ${kept}`)).line, `FOUND ${kept} 4`);
  assert.match((await reader.cmd(`stats-job ${kept}`)).line, /^OK \d+$/);
  await reader.cmd('watch aside');
  await reader.cmd('ignore default');
  assert.equal((await reader.cmd('reserve-with-timeout 0')).line, `RESERVED ${kept} 4`);
  // Writes wait: the delete of that job, and the producers' puts. Proxy 1 stops waiting after
  // its --node-timeout-ms: that put got INTERNAL_ERROR.
  const deleted = reader.cmd(`delete ${kept}`, undefined, PATIENT_NODE_TIMEOUT_MS);
  await pollUntil(
    "proxy 1's put given up after its node timeout",
    async () =>
      ledger.puts.some((p) => p.body.startsWith('p1') && p.sentAtMs >= deadAtMs && p.id === null)
        ? true
        : undefined,
    20_000,
    20,
  );
  await untilWriteWaits(shard, 0);
  await restartWhileWritesWait(ledger, shard, 1, deadAtMs, 'p0');
  assert.equal((await deleted).line, 'DELETED');
  await rejoined(shard, 1);
  await shard.start(2);
  await rejoined(shard, 2);
  assert.equal(await primaryOf(shard), 0, 'no failover: the primary never failed');

  await drain(c, ledger, traffic);
  await assertLedger(c, ledger);
  assert.equal((await reader.cmd(`peek ${kept}`)).line, 'NOT_FOUND', 'the acknowledged delete holds');
});
