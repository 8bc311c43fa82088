/**
 * Issue 17's fault test: 3 shards × (primary + 2 standbys) + 2 proxies as real processes, producers
 * and consumers through both proxies writing a ledger of every acknowledged put and delete. Faults,
 * one at a time, in two rounds: SIGKILL of a primary, of a standby, of a proxy, and a primary cut
 * off from the proxies by a relay that stops forwarding (not a kill). Every killed process starts
 * again with its original command and rejoins. Pass: 0 acknowledged puts lost, 0 acknowledged
 * deletes back, 0 ids for two jobs, every job delivered (duplicates counted, each one reserved at a
 * fault), writes to the failed shard resumed within 3 s (p50 and max printed), the other shards'
 * writes never stopped, a killed standby never paused writes, and no shard ends with two members
 * primary at one term.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  cutPrimary,
  drain,
  explainMissing,
  killPrimary,
  killProxy,
  killStandby,
  startFailoverCluster,
  startTraffic,
  timings,
  traceOfLoss,
} from '../support/failover-cluster';
import { FailoverLedger, percentile } from '../support/failover-ledger';
import { primariesSharingATerm } from '../support/shard';

/** After a kill (the limit of issue 17). */
const RESUME_LIMIT_MS = 3000;
/**
 * The proxies' --failover-after-ms here: 500 ms below the default 2000, so that the 3 s hold with
 * margin while the suite runs two files at once. At the default a kill's writes resume in 2.1–2.7 s
 * (p50), but on an overloaded 2-core machine (load 18–26) ~4 % of kills took 3.0–3.4 s: a
 * failover's ~10 hops between processes each wait for a CPU (docs/failover.md, the long run, which
 * keeps the default).
 */
const FAILOVER_AFTER_MS = 1500;
const NODE_TIMEOUT_MS = 1000;
/**
 * After a cut: the proxies notice only when a request times out (--node-timeout-ms), then wait
 * --failover-after-ms; then x-promote (its fence reaches the cut-off primary, which steps down), a
 * refused or raced promotion looked at again within 50–400 ms, and the other standby following.
 * 2.6–4.0 s here (docs/failover.md has the figures); the rest is margin for a loaded machine.
 */
const CUT_RESUME_LIMIT_MS = NODE_TIMEOUT_MS + FAILOVER_AFTER_MS + 5000;
/** A shard's writes must never stop for longer than this while another shard fails over. */
const OTHER_SHARD_GAP_MS = 1000;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test('failover: 3 shards × 3 members + 2 proxies under kills and a cut — nothing acknowledged lost', async () => {
  const c = await startFailoverCluster({
    failoverAfterMs: FAILOVER_AFTER_MS,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    cleanups,
  });
  const ledger = new FailoverLedger();
  const traffic = await startTraffic(c, ledger, cleanups);
  const standbyGapsMs: number[] = [];

  await cutPrimary(c, ledger);
  await killPrimary(c, ledger, 0);
  standbyGapsMs.push(await killStandby(c, ledger, 1));
  await killProxy(c, ledger, 0);
  await killPrimary(c, ledger, 1);
  standbyGapsMs.push(await killStandby(c, ledger, 2));
  await killProxy(c, ledger, 1);
  await killPrimary(c, ledger, 2);
  // A second cut, of whichever member leads shard 2 after the kill promoted another.
  await cutPrimary(c, ledger);
  const whileRunning = await drain(c, ledger, traffic);

  const report = ledger.report();
  const t = timings(ledger);
  process.stdout.write(
    `# failover fault test: ${report.acknowledgedPuts} acknowledged puts, ${ledger.deliveries.length} deliveries, ` +
      `${report.duplicates} duplicates (reserved at a fault), ${report.refusedDeletes} deletes refused after a failover; writes resumed after ${t.kills.length} primary kills ` +
      `p50 ${percentile(t.kills, 50)} ms, max ${Math.max(...t.kills)} ms; after the cuts ${t.cuts.join(', ')} ms; ` +
      `other shards' longest pause ${Math.max(...t.otherShardGapsMs)} ms; with a standby killed ${Math.max(...standbyGapsMs)} ms\n`,
  );
  const after = await Promise.all(report.lost.map((body) => explainMissing(c, ledger, body)));
  const missing = after.map(
    (m, i) => `${m}; while the consumers ran: ${whileRunning.get(report.lost[i] as string) ?? '-'}`,
  );
  if (missing.length > 0) process.stdout.write(`${traceOfLoss(c, ledger, traffic, report.lost)}\n`);
  assert.deepEqual(missing, [], 'acknowledged puts lost');
  assert.deepEqual(report.resurrected, [], 'acknowledged deletes resurrected');
  assert.deepEqual(report.idsGivenTwice, [], 'ids given to two jobs');
  const splitBrains = await Promise.all(
    c.shards.map((s) => primariesSharingATerm(s.members.map((m) => m.port))),
  );
  assert.deepEqual(splitBrains.flat(), [], 'two primaries at one term');
  const t0 = ledger.faults[0]?.atMs ?? 0;
  const unexplained = report.duplicatesNotAtFault.map((body) => {
    const ds = ledger.deliveries.filter((d) => d.body === body);
    const put = ledger.puts.find((p) => p.body === body);
    return `${body} put ${(put?.sentAtMs ?? 0) - t0}; delivered ${ds.map((d) => `${d.atMs - t0} (deleted ${d.deletedAtMs === null ? 'no' : d.deletedAtMs - t0})`).join(', ')}; faults ${ledger.faults.map((f) => `${f.kind}@${f.shard}:${f.atMs - t0}`).join(' ')}`;
  });
  assert.deepEqual(unexplained, [], 'duplicates not explained by a fault');
  // A delete by a holder whose reservation ended at a failover is refused without touching the job,
  // which is ready on the new primary: some consumer must get it again.
  assert.deepEqual(report.refusedNotRedelivered, [], 'refused deletes of jobs nobody got again');
  assert.ok(
    t.kills.every((ms) => ms <= RESUME_LIMIT_MS),
    `writes resumed within ${RESUME_LIMIT_MS} ms of a kill: ${t.kills}`,
  );
  assert.ok(
    t.cuts.every((ms) => ms <= CUT_RESUME_LIMIT_MS),
    `writes resumed within ${CUT_RESUME_LIMIT_MS} ms of a cut: ${t.cuts}`,
  );
  assert.ok(
    t.otherShardGapsMs.every((ms) => ms < OTHER_SHARD_GAP_MS),
    `other shards never stopped: ${t.otherShardGapsMs}`,
  );
  assert.ok(
    standbyGapsMs.every((ms) => ms < OTHER_SHARD_GAP_MS),
    `a killed standby paused writes: ${standbyGapsMs}`,
  );
});
