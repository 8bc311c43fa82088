/**
 * The long run of issue 17's fault test (test/e2e/failover-fault.test.ts, same cluster, traffic and
 * ledger): FAILOVERS primary faults rotating over the 3 shards — SIGKILL of the primary, or (when
 * shard 2's first member leads) a cut of it from the proxies — with a standby kill and a proxy kill between
 * them every few rounds, at the proxies' default --failover-after-ms (2000) unless given. Prints
 * the ledger's accounting and the time writes took to resume; exits 1 on any violation.
 *
 *   node dist/bench/failover-soak.js [--failovers 50] [--failover-after-ms 2000] [--node-timeout-ms 1000]
 */
import { parseArgs } from 'node:util';
import {
  type Cluster,
  cutPrimary,
  drain,
  explainMissing,
  killPrimary,
  killProxy,
  killStandby,
  primaryOf,
  startFailoverCluster,
  startTraffic,
  timings,
} from '../test/support/failover-cluster';
import { FailoverLedger, percentile } from '../test/support/failover-ledger';
import type { Shard } from '../test/support/shard';

const { values } = parseArgs({
  options: {
    failovers: { type: 'string', default: '50' },
    'failover-after-ms': { type: 'string', default: '2000' },
    'node-timeout-ms': { type: 'string', default: '1000' },
  },
});

async function primaryFault(c: Cluster, ledger: FailoverLedger, round: number): Promise<string> {
  const shard = round % 3;
  if (shard === 2 && (await primaryOf(c.shards[2] as Shard)) === 0) {
    await cutPrimary(c, ledger);
    return 'cut';
  }
  await killPrimary(c, ledger, shard);
  return 'kill';
}

async function main(): Promise<number> {
  const failovers = Number(values.failovers);
  const cleanups: Array<() => Promise<unknown>> = [];
  const started = Date.now();
  const c = await startFailoverCluster({
    failoverAfterMs: Number(values['failover-after-ms']),
    nodeTimeoutMs: Number(values['node-timeout-ms']),
    cleanups,
  });
  const ledger = new FailoverLedger();
  const standbyGapsMs: number[] = [];
  let missing: string[] = [];
  try {
    const traffic = await startTraffic(c, ledger, cleanups);
    for (let round = 0; round < failovers; round++) {
      const kind = await primaryFault(c, ledger, round);
      if (round % 5 === 4) standbyGapsMs.push(await killStandby(c, ledger, (round + 1) % 3));
      if (round % 10 === 9) await killProxy(c, ledger, round % 2);
      process.stderr.write(`round ${round + 1}/${failovers}: ${kind}\n`);
    }
    const whileRunning = await drain(c, ledger, traffic);
    const after = await Promise.all(ledger.report().lost.map((body) => explainMissing(c, ledger, body)));
    missing = after.map(
      (m, i) =>
        `${m}; while the consumers ran: ${whileRunning.get(ledger.report().lost[i] as string) ?? '-'}`,
    );
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
  const r = ledger.report();
  const t = timings(ledger);
  const ms = (list: number[]) =>
    `p50 ${percentile(list, 50)} ms, p90 ${percentile(list, 90)} ms, max ${Math.max(...list)} ms (n=${list.length})`;
  process.stdout.write(
    [
      `failover soak: ${t.kills.length + t.cuts.length} failovers (${t.kills.length} kills, ${t.cuts.length} cuts), ` +
        `${standbyGapsMs.length} standby kills, ${ledger.faults.filter((f) => f.kind === 'kill-proxy').length} proxy kills in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `  ${r.acknowledgedPuts} acknowledged puts, ${ledger.deliveries.length} deliveries, ${r.duplicates} duplicates (reserved at a fault)`,
      `  lost ${r.lost.length}, resurrected ${r.resurrected.length}, ids given twice ${r.idsGivenTwice.length}, duplicates not at a fault ${r.duplicatesNotAtFault.length}`,
      `  deletes refused after a failover ${r.refusedDeletes}, of which not delivered again ${r.refusedNotRedelivered.length}`,
      `  writes resumed after a kill: ${ms(t.kills)}`,
      `  writes resumed after a cut:  ${ms(t.cuts)}`,
      `  other shards' longest pause during a failover: ${ms(t.otherShardGapsMs)}`,
      `  longest pause of writes with a standby killed: ${ms(standbyGapsMs)}`,
      ...missing.map((m) => `  lost: ${m}`),
    ].join('\n') + '\n',
  );
  const violations =
    r.lost.length +
    r.resurrected.length +
    r.idsGivenTwice.length +
    r.duplicatesNotAtFault.length +
    r.refusedNotRedelivered.length;
  return violations === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`failover soak: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
