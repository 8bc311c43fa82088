/**
 * Steps of the two-failure tests (docs/failover.md, "Two failures at once"): one shard of three
 * members behind one or two proxies (test/support/failover-cluster.ts), a ledger of every
 * acknowledged put and delete, and the checks each line of the table needs.
 */
import assert from 'node:assert/strict';
import { runCli } from './cli-process';
import { type Cluster, explainMissing, startFailoverCluster } from './failover-cluster';
import type { FailoverLedger, PutRecord } from './failover-ledger';
import { pollUntil } from './prometheus';
import { ask, role, type Shard } from './shard';

/** --failover-after-ms of these tests' proxies (below the default: shorter runs). */
export const FAILOVER_AFTER_MS = 1500;

export function startOneShard(
  cleanups: Array<() => Promise<unknown>>,
  proxies: number,
  nodeTimeoutMs: number,
  nodeTimeoutMsOf?: (proxy: number) => number,
): Promise<Cluster> {
  return startFailoverCluster({
    shards: 1,
    proxies,
    failoverAfterMs: FAILOVER_AFTER_MS,
    nodeTimeoutMs,
    nodeTimeoutMsOf,
    cleanups,
  });
}

/** Resolves once proxy `p`'s log matches `pattern` (bounded). */
export function untilProxyLogs(c: Cluster, p: number, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return pollUntil(
    `proxy ${p} logging ${pattern}`,
    async () => pattern.exec((c.proxies[p] as Cluster['proxies'][number]).process.stderr())?.[0],
    timeoutMs,
    50,
  );
}

/** The address the proxies reach member `m` of the one shard by (its relay). */
export function viaProxies(c: Cluster, m: number): string {
  return `127.0.0.1:${c.relays[m]?.port}`;
}

/** `stalkd failover 0 --topology … [--force]`: its exit status and what it printed. */
export async function operatorFailover(
  c: Cluster,
  force: boolean,
): Promise<{ status: number | null; out: string }> {
  const r = await runCli(['failover', '0', '--topology', c.topologyFile, ...(force ? ['--force'] : [])]);
  return { status: r.status, out: r.stdout + r.stderr };
}

/**
 * Resolves once a client's put waits on member `m` for a standby: the member is primary, holds a
 * record it cannot confirm yet, and has run a put. Both are needed: a member promoted without a
 * standby holds its promotion's own record unconfirmed before any put reaches it, and a test that
 * went on then could restart a standby before the first put arrived (no put would wait across it).
 */
export function untilWriteWaits(shard: Shard, m: number): Promise<unknown> {
  const port = shard.members[m]?.port as number;
  return pollUntil(
    `a put waiting on member ${m}`,
    async () => {
      const r = await role(port);
      if (r.get('role') !== 'primary' || !(Number(r.get('last-lsn')) > Number(r.get('confirmed-lsn'))))
        return undefined;
      const puts = /^cmd-put: (\d+)$/m.exec(await ask(port, 'stats'));
      return Number(puts?.[1] ?? 0) > 0 ? true : undefined;
    },
    20_000,
    20,
  );
}

/** Acknowledged puts sent at or after `sentFromMs` and answered before `answeredBeforeMs`. */
export function acknowledgedWithin(
  ledger: FailoverLedger,
  sentFromMs: number,
  answeredBeforeMs: number,
): PutRecord[] {
  return ledger.puts.filter(
    (p) => p.id !== null && p.sentAtMs >= sentFromMs && p.answeredAtMs < answeredBeforeMs,
  );
}

/** Puts still waiting for their answer at `atMs` that were then acknowledged: they waited across it. */
export function waitedAcross(ledger: FailoverLedger, atMs: number): PutRecord[] {
  return ledger.puts.filter((p) => p.id !== null && p.sentAtMs < atMs && p.answeredAtMs >= atMs);
}

/**
 * Starts member `m` again while the shard's writes wait for a standby, and checks that they waited:
 * a put pending at the restart (from a producer whose label starts with `label`) is acknowledged
 * after it, and no put sent since `deadAtMs` (both failures done) was acknowledged before it.
 */
export async function restartWhileWritesWait(
  ledger: FailoverLedger,
  shard: Shard,
  m: number,
  deadAtMs: number,
  label = '',
): Promise<void> {
  const restartAtMs = Date.now();
  await shard.start(m);
  await pollUntil(
    `a put${label ? ` through ${label}` : ''} that waited for the standby acknowledged`,
    async () => (waitedAcross(ledger, restartAtMs).some((p) => p.body.startsWith(label)) ? true : undefined),
    20_000,
    20,
  );
  assert.deepEqual(
    acknowledgedWithin(ledger, deadAtMs, restartAtMs),
    [],
    'a put acknowledged while the primary had no standby',
  );
}

/**
 * The ledger's verdict: nothing acknowledged lost (but `givenUp`) — each loss explained by what
 * the members hold of it — no delete undone, no id for two jobs.
 */
export async function assertLedger(
  c: Cluster,
  ledger: FailoverLedger,
  givenUp: ReadonlySet<string> = new Set(),
): Promise<void> {
  const report = ledger.report();
  assert.ok(report.acknowledgedPuts > 0, 'acknowledged puts');
  const lost = report.lost.filter((b) => !givenUp.has(b));
  const why = await Promise.all(lost.map((body) => explainMissing(c, ledger, body)));
  const logs =
    lost.length === 0 ? '' : `\n${c.proxies.map((p) => p.process.stderr().slice(-2000)).join('\n--\n')}`;
  assert.deepEqual(why, [], `acknowledged puts lost${logs}`);
  assert.deepEqual(report.resurrected, [], 'acknowledged deletes resurrected');
  assert.deepEqual(report.idsGivenTwice, [], 'ids given to two jobs');
  assert.deepEqual(report.refusedNotRedelivered, [], 'refused deletes of jobs nobody got again');
}
