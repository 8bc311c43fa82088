/**
 * Issue 17's fault test: 3 shards × (primary + 2 standbys) + 2 proxies as real processes, producers
 * and consumers through both proxies writing a ledger of every acknowledged put and delete. Faults,
 * one at a time, in two rounds: SIGKILL of a primary, of a standby, of a proxy, and a primary cut
 * off from the proxies by a relay that stops forwarding (not a kill). Every killed process starts
 * again with its original command and rejoins. Pass: 0 acknowledged puts lost, 0 acknowledged
 * deletes back, 0 ids for two jobs, every job delivered (duplicates counted, each one reserved at a
 * fault), writes to the failed shard resumed within 3 s (p50 and max printed), the other shards'
 * writes never stopped, and a killed standby never paused writes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Placement } from '../../src/proxy/ring';
import { loadTopologyFile } from '../../src/proxy/topology';
import { tempDir } from '../support/binlog-fixtures';
import { freePort } from '../support/cli-process';
import { FailoverLedger, percentile } from '../support/failover-ledger';
import { TrafficRun } from '../support/failover-traffic';
import { type StalkdProcess, startStalkd } from '../support/processes';
import { pollUntil } from '../support/prometheus';
import { makeShard, role, type Shard, untilRole } from '../support/shard';
import { TcpRelay } from '../support/tcp-relay';

const SHARDS = 3;
/** After a kill (the limit of issue 17). */
const RESUME_LIMIT_MS = 3000;
/**
 * The proxies' --failover-after-ms here: below the default 2000 so that the 3 s hold with margin on
 * a loaded CI machine (failover-after + x-promote + the other standby following: ~2.6 s at 2000,
 * docs/failover.md); the bench run keeps the default.
 */
const FAILOVER_AFTER_MS = 1500;
const NODE_TIMEOUT_MS = 1000;
/** After a cut: the proxies notice only when requests time out. */
const CUT_RESUME_LIMIT_MS = NODE_TIMEOUT_MS + RESUME_LIMIT_MS;
/** A shard's writes must never stop for longer than this while another shard fails over. */
const OTHER_SHARD_GAP_MS = 1000;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

interface Cluster {
  shards: Shard[];
  relay: TcpRelay;
  proxies: Array<{ port: number; args: string[]; process: StalkdProcess }>;
  tubes: string[];
}

async function startCluster(): Promise<Cluster> {
  const shards: Shard[] = [];
  for (let i = 0; i < SHARDS; i++) {
    const shard = await makeShard(3, ['--node-name', `node-${i}`, '--node-index', String(i)]);
    cleanups.push(() => shard.stopAll());
    await Promise.all(shard.members.map((_, m) => shard.start(m)));
    shards.push(shard);
  }
  await Promise.all(
    shards.map((s) => untilRole(s.members[0]?.port as number, { role: 'primary', 'in-sync-standbys': '2' })),
  );
  // Shard 2's first primary is reached by the proxies through a relay (its peers reach it directly).
  const relay = await TcpRelay.start(shards[2]?.members[0]?.port as number);
  cleanups.push(() => relay.close());
  const dir = tempDir();
  const topologyFile = join(dir, 'topology.json');
  const nodes = shards.map((s, i) => ({
    name: `node-${i}`,
    index: i,
    host: '127.0.0.1',
    port: i === 2 ? relay.port : (s.members[0]?.port as number),
    replicas: s.members.slice(1).map((m) => ({ host: '127.0.0.1', port: m.port })),
  }));
  writeFileSync(topologyFile, JSON.stringify({ nodes }));
  const placement = new Placement(loadTopologyFile(topologyFile));
  const tubes = shards.map((_, i) => {
    for (let n = 0; ; n++) if (placement.ownerOf(`jobs-${n}`).index === i) return `jobs-${n}`;
  });
  const proxies = [];
  for (let p = 0; p < 2; p++) {
    const port = await freePort();
    const args = [
      'proxy',
      '-l',
      '127.0.0.1',
      '-p',
      String(port),
      '--topology',
      topologyFile,
      '--node-timeout-ms',
      String(NODE_TIMEOUT_MS),
      '--failover-after-ms',
      String(FAILOVER_AFTER_MS),
    ];
    const process = await startStalkd(args);
    cleanups.push(() => process.kill());
    proxies.push({ port, args, process });
  }
  return { shards, relay, proxies, tubes };
}

/** The index of the member of `shard` that says it is primary at the highest term. */
async function primaryOf(shard: Shard): Promise<number> {
  return pollUntil(
    'a primary',
    async () => {
      let best: { i: number; term: number } | undefined;
      for (const [i, m] of shard.members.entries()) {
        if (!m.process) continue;
        const r = await role(m.port).catch(() => undefined);
        const term = Number(r?.get('term'));
        if (r?.get('role') === 'primary' && (!best || term > best.term)) best = { i, term };
      }
      return best?.i;
    },
    15_000,
    50,
  );
}

/** Waits until member `i` of `shard` is a standby in sync (it rejoined). */
function rejoined(shard: Shard, i: number): Promise<unknown> {
  return untilRole(shard.members[i]?.port as number, { role: 'standby', 'in-sync': 'true' }, 30_000);
}

/** Waits until `count` puts to `shard` sent after `sinceMs` were acknowledged. */
function acknowledgedSince(
  ledger: FailoverLedger,
  shard: number,
  sinceMs: number,
  count: number,
): Promise<unknown> {
  return pollUntil(
    `${count} acknowledged puts to shard ${shard}`,
    async () => {
      const n = ledger.puts.filter((p) => p.shard === shard && p.id !== null && p.sentAtMs >= sinceMs).length;
      return n >= count ? true : undefined;
    },
    20_000,
    20,
  );
}

async function killPrimary(c: Cluster, ledger: FailoverLedger, s: number): Promise<void> {
  const shard = c.shards[s] as Shard;
  const i = await primaryOf(shard);
  await shard.kill(i);
  const fault = ledger.fault('kill-primary', s);
  await acknowledgedSince(ledger, s, fault.atMs, 1);
  await shard.start(i);
  await rejoined(shard, i);
}

async function killStandby(c: Cluster, ledger: FailoverLedger, s: number): Promise<void> {
  const shard = c.shards[s] as Shard;
  const primary = await primaryOf(shard);
  const i = (primary + 1) % 3;
  await shard.kill(i);
  const fault = ledger.fault('kill-standby', s);
  await acknowledgedSince(ledger, s, fault.atMs, 30);
  const gap = ledger.longestGapMs(s, fault.atMs, Date.now());
  assert.ok(gap < OTHER_SHARD_GAP_MS, `writes to shard ${s} paused ${gap} ms when a standby died`);
  await shard.start(i);
  await rejoined(shard, i);
}

async function killProxy(c: Cluster, ledger: FailoverLedger, p: number): Promise<void> {
  const proxy = c.proxies[p] as Cluster['proxies'][number];
  await proxy.process.kill();
  const fault = ledger.fault('kill-proxy', null);
  for (let s = 0; s < SHARDS; s++) await acknowledgedSince(ledger, s, fault.atMs, 10);
  proxy.process = await startStalkd(proxy.args);
  cleanups.push(() => proxy.process.kill());
}

async function cutPrimary(c: Cluster, ledger: FailoverLedger): Promise<void> {
  assert.equal(await primaryOf(c.shards[2] as Shard), 0, "shard 2's member behind the relay leads");
  c.relay.cut();
  const fault = ledger.fault('cut-primary', 2);
  await acknowledgedSince(ledger, 2, fault.atMs, 1);
  c.relay.restore();
  await rejoined(c.shards[2] as Shard, 0);
}

test('failover: 3 shards × 3 members + 2 proxies under kills and a cut — nothing acknowledged lost', async () => {
  const c = await startCluster();
  const ledger = new FailoverLedger();
  const traffic = new TrafficRun(ledger);
  for (const [p, proxy] of c.proxies.entries()) {
    for (const [s, tube] of c.tubes.entries()) traffic.producer(proxy.port, s, tube, `p${p}s${s}`);
    traffic.consumer(proxy.port, c.tubes);
  }
  cleanups.push(() => traffic.stopAll());
  for (let s = 0; s < SHARDS; s++) await acknowledgedSince(ledger, s, 0, 20);

  await cutPrimary(c, ledger);
  await killPrimary(c, ledger, 0);
  await killStandby(c, ledger, 1);
  await killProxy(c, ledger, 0);
  await killPrimary(c, ledger, 1);
  await killStandby(c, ledger, 2);
  await killProxy(c, ledger, 1);
  await killPrimary(c, ledger, 2);

  traffic.stopProducers();
  const acked = ledger.puts.filter((p) => p.id !== null);
  await pollUntil(
    'every acknowledged put delivered',
    async () => {
      const delivered = new Set(ledger.deliveries.map((d) => d.body));
      return acked.every((p) => delivered.has(p.body)) ? true : undefined;
    },
    30_000,
    100,
  ).catch(() => undefined); // the accounting below names what is missing
  await traffic.stopAll();

  const report = ledger.report();
  if (process.env.FAILOVER_DEBUG) {
    const t0 = ledger.faults[0]?.atMs ?? 0;
    process.stdout.write(
      `faults: ${ledger.faults.map((f) => `${f.kind}@${f.shard}:${f.atMs - t0}`).join(' ')} t0=${new Date(t0).toISOString()}\n`,
    );
    for (const p of c.proxies)
      process.stdout.write(
        p.process
          .stderr()
          .split('\n')
          .filter((l) => /primary changed|no failover|node (down|up)/.test(l))
          .join('\n') + '\n',
      );
  }
  const primaryFaults = ledger.faults.filter((f) => f.kind === 'kill-primary' || f.kind === 'cut-primary');
  const resumeOf = (f: (typeof primaryFaults)[number]): number => {
    const p = ledger.resumedAfter(f.shard as number, f.atMs);
    return p ? p.answeredAtMs - f.atMs : Number.POSITIVE_INFINITY;
  };
  for (const f of primaryFaults) {
    const resumed = ledger.resumedAfter(f.shard as number, f.atMs);
    const untilMs = resumed?.answeredAtMs ?? Date.now();
    for (let s = 0; s < SHARDS; s++) {
      if (s === f.shard) continue;
      const gap = ledger.longestGapMs(s, f.atMs, untilMs);
      assert.ok(
        gap < OTHER_SHARD_GAP_MS,
        `shard ${s} stopped for ${gap} ms while shard ${f.shard} failed over`,
      );
    }
  }
  const kills = primaryFaults.filter((f) => f.kind === 'kill-primary').map(resumeOf);
  const cuts = primaryFaults.filter((f) => f.kind === 'cut-primary').map(resumeOf);
  process.stdout.write(
    `# failover fault test: ${report.acknowledgedPuts} acknowledged puts, ${ledger.deliveries.length} deliveries, ` +
      `${report.duplicates} duplicates (reserved at a fault); writes resumed after ${kills.length} primary kills ` +
      `p50 ${percentile(kills, 50)} ms, max ${Math.max(...kills)} ms; after the cut ${cuts.join(', ')} ms\n`,
  );
  assert.deepEqual(report.lost, [], 'acknowledged puts lost');
  assert.deepEqual(report.resurrected, [], 'acknowledged deletes resurrected');
  assert.deepEqual(report.idsGivenTwice, [], 'ids given to two jobs');
  assert.deepEqual(report.duplicatesNotAtFault, [], 'duplicates not explained by a fault');
  assert.ok(
    kills.every((ms) => ms <= RESUME_LIMIT_MS),
    `writes resumed within ${RESUME_LIMIT_MS} ms of a kill: ${kills}`,
  );
  assert.ok(
    cuts.every((ms) => ms <= CUT_RESUME_LIMIT_MS),
    `writes resumed within ${CUT_RESUME_LIMIT_MS} ms of a cut: ${cuts}`,
  );
});
