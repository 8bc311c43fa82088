/**
 * The cluster of issue 17's fault test and its faults, shared by test/e2e/failover-fault.test.ts,
 * bench/failover-soak.ts and the two-failure tests (test/e2e/failover-two-*.test.ts): 3 shards ×
 * (primary + 2 standbys) as `stalkd node` processes (or fewer shards and proxies), the last shard's
 * members reached by the proxies through a relay each (so whichever leads can be cut off), 2
 * proxies; each fault waits for the shard to write again (ledger entries) and for the killed or
 * cut-off member to rejoin.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJobId } from '../../src/proxy/job-id';
import { Placement } from '../../src/proxy/ring';
import { loadTopologyFile } from '../../src/proxy/topology';
import { tempDir } from './binlog-fixtures';
import { freePort } from './cli-process';
import type { FailoverLedger, Fault } from './failover-ledger';
import { TrafficRun } from './failover-traffic';
import { type StalkdProcess, startStalkd } from './processes';
import { pollUntil } from './prometheus';
import { ask, makeShard, role, type Shard, untilRole } from './shard';
import { TcpRelay } from './tcp-relay';

export const SHARDS = 3;

export interface ClusterOptions {
  failoverAfterMs: number;
  nodeTimeoutMs: number;
  /** Whatever was started is stopped by these (in reverse). */
  cleanups: Array<() => Promise<unknown>>;
  /** How many shards (default SHARDS) and proxies (default 2). */
  shards?: number;
  proxies?: number;
  /** The --node-timeout-ms of proxy p, if not nodeTimeoutMs (proxies that wait differently). */
  nodeTimeoutMsOf?: ((proxy: number) => number) | undefined;
}

export interface Cluster {
  shards: Shard[];
  /** The last shard's members as the proxies reach them (their peers reach each other directly). */
  relays: TcpRelay[];
  /** The index of the shard behind `relays`. */
  relayed: number;
  proxies: Array<{ port: number; args: string[]; process: StalkdProcess }>;
  tubes: string[];
  /** The proxies' --topology (also for `stalkd failover`). */
  topologyFile: string;
}

export async function startFailoverCluster(o: ClusterOptions): Promise<Cluster> {
  const cleanups = o.cleanups;
  const shards: Shard[] = [];
  const relayed = (o.shards ?? SHARDS) - 1;
  for (let i = 0; i <= relayed; i++) {
    const shard = await makeShard(3, ['--node-name', `node-${i}`, '--node-index', String(i)]);
    cleanups.push(() => shard.stopAll());
    await Promise.all(shard.members.map((_, m) => shard.start(m)));
    shards.push(shard);
  }
  await Promise.all(
    shards.map((s) => untilRole(s.members[0]?.port as number, { role: 'primary', 'in-sync-standbys': '2' })),
  );
  // The last shard's members are reached by the proxies through relays (their peers reach them directly).
  const relays: TcpRelay[] = [];
  for (const m of (shards[relayed] as Shard).members) {
    const relay = await TcpRelay.start(m.port);
    cleanups.push(() => relay.close());
    relays.push(relay);
  }
  const viaProxies = (s: number, m: number): number =>
    s === relayed ? (relays[m] as TcpRelay).port : (shards[s]?.members[m]?.port as number);
  const dir = tempDir();
  const topologyFile = join(dir, 'topology.json');
  const nodes = shards.map((s, i) => ({
    name: `node-${i}`,
    index: i,
    host: '127.0.0.1',
    port: viaProxies(i, 0),
    replicas: s.members.slice(1).map((_, m) => ({ host: '127.0.0.1', port: viaProxies(i, m + 1) })),
  }));
  writeFileSync(topologyFile, JSON.stringify({ nodes }));
  const placement = new Placement(loadTopologyFile(topologyFile));
  const tubes = shards.map((_, i) => {
    for (let n = 0; ; n++) if (placement.ownerOf(`jobs-${n}`).index === i) return `jobs-${n}`;
  });
  const proxies = [];
  for (let p = 0; p < (o.proxies ?? 2); p++) {
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
      String(o.nodeTimeoutMsOf?.(p) ?? o.nodeTimeoutMs),
      '--failover-after-ms',
      String(o.failoverAfterMs),
    ];
    const proxy = { port, args, process: await startStalkd(args) };
    cleanups.push(() => proxy.process.kill()); // the one running at the end (killProxy restarts it)
    proxies.push(proxy);
  }
  return { shards, relays, relayed, proxies, tubes, topologyFile };
}

/** The index of the member of `shard` that says it is primary at the highest term. */
export async function primaryOf(shard: Shard): Promise<number> {
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
export function rejoined(shard: Shard, i: number): Promise<unknown> {
  return untilRole(shard.members[i]?.port as number, { role: 'standby', 'in-sync': 'true' }, 30_000);
}

/** Waits until `count` puts to `shard` sent after `sinceMs` were acknowledged. */
export function acknowledgedSince(
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

export async function killPrimary(c: Cluster, ledger: FailoverLedger, s: number): Promise<void> {
  const shard = c.shards[s] as Shard;
  const i = await primaryOf(shard);
  // The fault is stamped before the signal: from then on a reservation may be released.
  const fault = ledger.fault('kill-primary', s);
  await shard.kill(i);
  await acknowledgedSince(ledger, s, fault.atMs, 1).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await situation(c, s)}`);
  });
  await shard.start(i);
  await rejoined(shard, i);
}

/** Resolves with the longest pause of the shard's writes while the standby was down. */
export async function killStandby(c: Cluster, ledger: FailoverLedger, s: number): Promise<number> {
  const shard = c.shards[s] as Shard;
  const primary = await primaryOf(shard);
  const i = (primary + 1) % 3;
  // The fault is stamped before the signal: from then on a reservation may be released.
  const fault = ledger.fault('kill-standby', s);
  await shard.kill(i);
  await acknowledgedSince(ledger, s, fault.atMs, 30);
  const gapMs = ledger.longestGapMs(s, fault.atMs, Date.now());
  await shard.start(i);
  await rejoined(shard, i);
  return gapMs;
}

export async function killProxy(c: Cluster, ledger: FailoverLedger, p: number): Promise<void> {
  const proxy = c.proxies[p] as Cluster['proxies'][number];
  // Stamped before the signal: its clients' reservations return to ready as its node links drop,
  // possibly before kill() has seen the process exit.
  const fault = ledger.fault('kill-proxy', null);
  await proxy.process.kill();
  for (let s = 0; s < c.shards.length; s++) await acknowledgedSince(ledger, s, fault.atMs, 10);
  proxy.process = await startStalkd(proxy.args);
}

/** Cuts the relayed shard's primary off from the proxies (its relay stops forwarding), then lets it rejoin. */
export async function cutPrimary(c: Cluster, ledger: FailoverLedger): Promise<void> {
  const s = c.relayed;
  const i = await primaryOf(c.shards[s] as Shard);
  const relay = c.relays[i] as TcpRelay;
  relay.cut();
  const fault = ledger.fault('cut-primary', s);
  await acknowledgedSince(ledger, s, fault.atMs, 1).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await situation(c, s)}`);
  });
  relay.restore();
  await rejoined(c.shards[s] as Shard, i);
}

/** Producers (one per proxy and shard) and consumers (one per proxy) through both proxies. */
export async function startTraffic(
  c: Cluster,
  ledger: FailoverLedger,
  cleanups: ClusterOptions['cleanups'],
): Promise<TrafficRun> {
  const traffic = new TrafficRun(ledger);
  for (const [p, proxy] of c.proxies.entries()) {
    for (const [s, tube] of c.tubes.entries()) traffic.producer(proxy.port, s, tube, `p${p}s${s}`);
    traffic.consumer(proxy.port, c.tubes);
  }
  cleanups.push(() => traffic.stopAll());
  for (let s = 0; s < c.shards.length; s++) await acknowledgedSince(ledger, s, 0, 20);
  return traffic;
}

/**
 * Stops the producers and lets the consumers take every acknowledged put (bounded), then stops them.
 * Returns what the members said of each put still undelivered while the consumers still ran (a
 * job held reserved on a consumer's node connection shows `reserved` here, `ready` after).
 */
export async function drain(
  c: Cluster,
  ledger: FailoverLedger,
  traffic: TrafficRun,
  /** Acknowledged puts not to wait for (a forced promotion gave them up). */
  givenUp: ReadonlySet<string> = new Set(),
): Promise<Map<string, string>> {
  // Every put answered first: one acknowledged after the list below was made would be missed by
  // the wait, and the consumers stopped before taking it (it stays ready on every member).
  ledger.drainStartedAtMs = Date.now();
  await traffic.stopProducers();
  const acked = ledger.puts.filter((p) => p.id !== null && !givenUp.has(p.body));
  await pollUntil(
    'every acknowledged put delivered',
    async () => {
      const delivered = new Set(ledger.deliveries.map((d) => d.body));
      return acked.every((p) => delivered.has(p.body)) ? true : undefined;
    },
    30_000,
    100,
  ).catch(() => undefined); // the ledger's accounting names what is missing
  const lost = ledger.report().lost.filter((body) => !givenUp.has(body));
  const states = await Promise.all(lost.map((body) => explainMissing(c, ledger, body)));
  await traffic.stopAll();
  return new Map(lost.map((body, i) => [body, states[i] as string]));
}

export interface Timings {
  /** ms from each primary kill to the first acknowledged put sent after it. */
  kills: number[];
  cuts: number[];
  /** Per primary fault, the longest pause of any other shard's writes until the failed one resumed. */
  otherShardGapsMs: number[];
}

export function timings(ledger: FailoverLedger): Timings {
  const resumeOf = (f: Fault): number => {
    const p = ledger.resumedAfter(f.shard as number, f.atMs);
    return p ? p.answeredAtMs - f.atMs : Number.POSITIVE_INFINITY;
  };
  const primaryFaults = ledger.faults.filter((f) => f.kind === 'kill-primary' || f.kind === 'cut-primary');
  const otherShardGapsMs = primaryFaults.map((f) => {
    const untilMs = ledger.resumedAfter(f.shard as number, f.atMs)?.answeredAtMs ?? Date.now();
    let gap = 0;
    for (let s = 0; s < SHARDS; s++)
      if (s !== f.shard) gap = Math.max(gap, ledger.longestGapMs(s, f.atMs, untilMs));
    return gap;
  });
  return {
    kills: primaryFaults.filter((f) => f.kind === 'kill-primary').map(resumeOf),
    cuts: primaryFaults.filter((f) => f.kind === 'cut-primary').map(resumeOf),
    otherShardGapsMs,
  };
}

/**
 * For a put the ledger cannot account for: when it was sent relative to the faults, and what each
 * member of its shard says of its job now (`stats-job` state, or NOT_FOUND) — lost from the logs,
 * or held somewhere (a reservation that was never handed to a client).
 */
export async function explainMissing(c: Cluster, ledger: FailoverLedger, body: string): Promise<string> {
  const put = ledger.puts.find((p) => p.body === body);
  if (!put || put.id === null) return `${body}: not an acknowledged put`;
  const t0 = ledger.faults[0]?.atMs ?? put.sentAtMs;
  const faults = ledger.faults.map((f) => `${f.kind}@${f.shard}:${f.atMs - t0}`).join(' ');
  const decoded = decodeJobId(put.id);
  const shard = c.shards[put.shard] as Shard;
  const states = await Promise.all(
    shard.members.map(async (m) => {
      const r = await ask(m.port, `stats-job ${decoded?.nodeId}`).catch((e: Error) => e.message);
      const state = /state: (\w+)/.exec(r)?.[1] ?? r.split('\n')[0];
      // reserves and releases tell a job never handed out from one held on a connection.
      const counts = ['reserves', 'releases', 'timeouts'].map(
        (k) => `${k} ${new RegExp(`${k}: (\\d+)`).exec(r)?.[1] ?? '?'}`,
      );
      const tube = /tube: (\S+)/.exec(r)?.[1] ?? '?';
      return `:${m.port} ${state} in ${tube} (${counts.join(', ')})`;
    }),
  );
  const drainAt =
    ledger.drainStartedAtMs === null ? '' : `, the drain from ${ledger.drainStartedAtMs - t0} ms`;
  return `${body} id ${put.id} sent at ${put.sentAtMs - t0} ms, answered at ${put.answeredAtMs - t0} ms (faults ${faults}${drainAt}); members: ${states.join(', ')}`;
}

/** What the proxies logged about shard `s` and what its members say now (for a failure message). */
export async function situation(c: Cluster, s: number): Promise<string> {
  const shard = c.shards[s] as Shard;
  const roles = await Promise.all(
    shard.members.map(async (m) => {
      const r = await role(m.port).catch(() => undefined);
      return `:${m.port} ${r ? ['role', 'term', 'last-lsn', 'in-sync', 'primary'].map((k) => r.get(k)).join(' ') : 'no answer'}`;
    }),
  );
  const logs = c.proxies.map((p) =>
    p.process
      .stderr()
      .split('\n')
      .filter((l) => l.includes(`node-${s}`))
      .slice(-8)
      .join('\n'),
  );
  return `members: ${roles.join(' | ')}\nproxies:\n${logs.join('\n--\n')}`;
}

/**
 * For a failure's report: what the consumers did from 3 s before the first of `lost` was put, and
 * the end of each proxy's log (times relative to the first fault, as explainMissing's).
 */
export function traceOfLoss(
  c: Cluster,
  ledger: FailoverLedger,
  traffic: TrafficRun,
  lost: readonly string[],
): string {
  const first = Math.min(...lost.map((b) => ledger.puts.find((p) => p.body === b)?.sentAtMs ?? Date.now()));
  const t0 = ledger.faults[0]?.atMs ?? first;
  const events = traffic.trace
    .filter((e) => e.atMs >= first - 3000)
    .map((e) => `  ${e.atMs - t0} consumer ${e.consumer}: ${e.what}`);
  const logs = c.proxies.map(
    (p, i) =>
      `proxy ${i} (:${p.port}) log, last lines:\n${p.process.stderr().split('\n').slice(-40).join('\n')}`,
  );
  return [`consumers from ${first - 3000 - t0} ms:`, ...events.slice(-300), ...logs].join('\n');
}
