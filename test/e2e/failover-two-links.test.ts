/**
 * Two failures at once around a shard (docs/failover.md, "Two failures at once"), with real
 * processes, kill -9, a relay that stops forwarding, and a ledger of every acknowledged put and
 * delete:
 * - both proxies die: nothing is lost; started again, each finds the shard's primary — no longer
 *   the topology's first member, after a failover — by asking the members' x-role;
 * - the primary is cut off from the proxies (not from its peers) and a standby dies: the other
 *   standby is promoted; the cut-off primary is fenced — a client on its side of the cut cannot
 *   get a write confirmed — and follows the new primary, and still does once the link returns.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  acknowledgedSince,
  drain,
  killPrimary,
  primaryOf,
  rejoined,
  situation,
  startTraffic,
} from '../support/failover-cluster';
import { FailoverLedger } from '../support/failover-ledger';
import { assertLedger, startOneShard, untilProxyLogs, viaProxies } from '../support/failover-two';
import { MiniClient } from '../support/mini-client';
import { startStalkd } from '../support/processes';
import { pollUntil } from '../support/prometheus';
import { primariesSharingATerm, type Shard, untilRole } from '../support/shard';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test('two failures: both proxies die — nothing lost; started again they find the primary by x-role', async () => {
  const c = await startOneShard(cleanups, 2, 1000);
  const shard = c.shards[0] as Shard;
  const ledger = new FailoverLedger();
  const traffic = await startTraffic(c, ledger, cleanups);
  await killPrimary(c, ledger, 0); // the primary is no longer the topology's first member
  const primary = await primaryOf(shard);
  assert.notEqual(primary, 0);

  const fault = ledger.fault('kill-proxy', null);
  await Promise.all(c.proxies.map((p) => p.process.kill()));
  for (const p of c.proxies) p.process = await startStalkd(p.args);
  for (const [p] of c.proxies.entries()) {
    // Before it listened, it asked the members and took the primary at the highest term.
    await untilProxyLogs(
      c,
      p,
      new RegExp(
        `primary changed shard=node-0 reason=adopted from=${viaProxies(c, 0)} to=${viaProxies(c, primary)}`,
      ),
    );
    await pollUntil(
      `puts through proxy ${p} acknowledged after the restart`,
      async () =>
        ledger.puts.filter((r) => r.body.startsWith(`p${p}`) && r.id !== null && r.sentAtMs >= fault.atMs)
          .length >= 10
          ? true
          : undefined,
      20_000,
      20,
    );
  }

  await drain(c, ledger, traffic);
  await assertLedger(c, ledger);
  assert.deepEqual(ledger.report().duplicatesNotAtFault, [], 'duplicates not explained by a fault');
});

test('two failures: the primary cut off from the proxies and a standby dies — the other standby promoted, the cut-off primary fenced and following', async () => {
  const c = await startOneShard(cleanups, 1, 1000);
  const shard = c.shards[0] as Shard;
  const ledger = new FailoverLedger();
  const traffic = await startTraffic(c, ledger, cleanups);
  const fault = ledger.fault('cut-primary', 0);
  (c.relays[0] as { cut(): void }).cut();
  await shard.kill(1);
  await acknowledgedSince(ledger, 0, fault.atMs, 10).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await situation(c, 0)}`);
  });
  assert.equal(await primaryOf(shard), 2, 'the standby left is the primary');
  // Fenced: the cut-off member is no longer primary; a client on its side of the cut (it reaches
  // it directly) cannot get a write confirmed there.
  await untilRole(shard.members[0]?.port as number, { role: 'standby' });
  const direct = await MiniClient.connect(shard.members[0]?.port as number);
  cleanups.push(async () => direct.close());
  await direct.send('use stranded');
  assert.equal((await direct.put('on the wrong side')).line, 'NOT_PRIMARY');
  c.relays[0]?.restore();
  await rejoined(shard, 0);
  await shard.start(1);
  await rejoined(shard, 1);
  assert.equal(await primaryOf(shard), 2);

  await drain(c, ledger, traffic);
  await assertLedger(c, ledger);
  assert.deepEqual(await primariesSharingATerm(shard.members.map((m) => m.port)), []);
  await untilProxyLogs(
    c,
    0,
    new RegExp(`primary changed shard=node-0 reason=primary_failed .*to=${viaProxies(c, 2)}`),
  );
});
