/**
 * Soak: mixed load through a proxy in front of three stalkd nodes (`-b DIR -f 0`, so every
 * acknowledged change is on disk), one node SIGKILLed and restarted every --kill-every seconds.
 * Producers put (some delayed, some with a 1 s TTR that their worker overruns); workers reserve and
 * delete, release, bury (a kicker kicks) or touch; a reader runs stats, list-tubes, stats-tube and
 * peek-ready. Then the load stops, everything left is drained, and the ledger (soak-ledger.ts)
 * decides: every acknowledged put delivered, nothing delivered twice except after a release, a TTR
 * expiry or a lost hold, no deleted job back — and the proxy's RSS flat. Exits 1 on any violation.
 *
 *   node dist/bench/soak.js [--minutes 10] [--kill-every 30] [--rate 300] [--producers 4] [--workers 8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Placement } from '../src/proxy/ring';
import { topologyFromNodeList } from '../src/proxy/topology';
import { freePort } from '../test/support/cli-process';
import { type StalkdProcess, startNodeProcess, startProxyProcess } from '../test/support/processes';
import { RawClient } from '../test/support/proxy-harness';
import { type Outcome, SoakLedger } from './soak-ledger';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TUBES = Array.from({ length: 9 }, (_, i) => `soak-${i}`);
const MiB = 1024 * 1024;
/** The drain fails when the jobs left stop decreasing for this long. */
const DRAIN_STALL_MS = 60_000;

type Phase = 'load' | 'drain' | 'done';

interface Soak {
  ledger: SoakLedger;
  proxyPort: number;
  placement: Placement;
  phase: Phase;
  errors: Map<string, number>;
  reconnects: number;
  rss: { proxy: number[]; nodes: number[][] };
}

function countError(soak: Soak, what: string): void {
  soak.errors.set(what, (soak.errors.get(what) ?? 0) + 1);
}

async function connect(soak: Soak): Promise<RawClient> {
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      return await RawClient.open(soak.proxyPort);
    } catch {
      await sleep(20);
    }
  }
  throw new Error('the proxy does not accept connections');
}

async function producer(soak: Soak, k: number, ratePerSec: number): Promise<void> {
  let c: RawClient | null = null;
  const startedMs = Date.now();
  for (let seq = 0; soak.phase === 'load'; seq++) {
    const dueMs = startedMs + (seq * 1000) / ratePerSec;
    if (dueMs > Date.now()) await sleep(dueMs - Date.now());
    const tube = TUBES[seq % TUBES.length] as string;
    const slow = Math.random() < 0.005;
    const ttrSecs = slow ? 1 : 30;
    const delaySecs = Math.random() < 0.2 ? 1 : 0;
    const body = `s${k}-${seq}${slow ? '-slow' : ''}`;
    try {
      c ??= await connect(soak);
      soak.ledger.putSent(body, soak.placement.ownerOf(tube).index, ttrSecs);
      await c.cmd(`use ${tube}`);
      const r = await c.cmd(`put ${seq % 2048} ${delaySecs} ${ttrSecs} ${body.length}`, body);
      if (r.line.startsWith('INSERTED ')) soak.ledger.putAcked(body);
      else {
        soak.ledger.putFailed();
        countError(soak, `put: ${r.line}`);
      }
    } catch {
      soak.ledger.putFailed();
      c?.close();
      c = null;
      soak.reconnects++;
    }
  }
  c?.close();
}

/** One delivered job: what the worker does with it, and how that ended. */
async function handleJob(soak: Soak, c: RawClient, id: string, body: string, n: number): Promise<void> {
  const draining = soak.phase !== 'load';
  if (!draining && body.endsWith('-slow')) await sleep(1300); // overrun the 1 s TTR
  const roll = draining ? 1 : Math.random();
  let line: string;
  if (roll < 0.1) line = (await c.cmd(`release ${id} 100 ${roll < 0.05 ? 1 : 0}`)).line;
  else if (roll < 0.15) line = (await c.cmd(`bury ${id} 100`)).line;
  else {
    if (roll < 0.2) {
      const touched = (await c.cmd(`touch ${id}`)).line;
      if (touched !== 'TOUCHED') {
        soak.ledger.outcome(body, n, 'lost-hold');
        return;
      }
    }
    line = (await c.cmd(`delete ${id}`)).line;
  }
  const outcome: Outcome =
    line === 'DELETED'
      ? 'deleted'
      : line === 'RELEASED'
        ? 'released'
        : line === 'BURIED'
          ? 'buried'
          : 'lost-hold';
  if (outcome === 'lost-hold' && !body.endsWith('-slow')) countError(soak, `worker: ${line}`);
  soak.ledger.outcome(body, n, outcome);
}

async function worker(soak: Soak): Promise<void> {
  let c: RawClient | null = null;
  while (soak.phase !== 'done') {
    let held: { body: string; n: number } | null = null;
    try {
      if (!c) {
        c = await connect(soak);
        for (const tube of TUBES) await c.cmd(`watch ${tube}`);
        await c.cmd('ignore default');
      }
      const r = await c.cmd('reserve-with-timeout 1', undefined, 15_000);
      if (r.line === 'TIMED_OUT' || r.line === 'DEADLINE_SOON') continue;
      if (!r.line.startsWith('RESERVED ')) {
        countError(soak, `reserve: ${r.line}`);
        continue;
      }
      const body = r.body?.toString() ?? '';
      held = { body, n: soak.ledger.delivered(body, Date.now()) };
      await handleJob(soak, c, r.line.split(' ')[1] as string, body, held.n);
    } catch {
      if (held) soak.ledger.outcome(held.body, held.n, 'lost-hold');
      c?.close();
      c = null;
      soak.reconnects++;
    }
  }
  c?.close();
}

/** Kicks buried jobs back and reads: stats, list-tubes, stats-tube, peek-ready. */
async function kickerAndReader(soak: Soak): Promise<void> {
  let c: RawClient | null = null;
  for (let round = 0; soak.phase !== 'done'; round++) {
    try {
      c ??= await connect(soak);
      for (const tube of TUBES) {
        await c.cmd(`use ${tube}`);
        await c.cmd('kick 100000');
      }
      const tube = TUBES[round % TUBES.length] as string;
      for (const line of ['stats', 'list-tubes', `stats-tube ${tube}`, 'peek-ready']) {
        const r = await c.cmd(line);
        if (r.line === 'INTERNAL_ERROR') countError(soak, `${line.split(' ')[0]}: INTERNAL_ERROR`);
      }
    } catch {
      c?.close();
      c = null;
      soak.reconnects++;
    }
    await sleep(500);
  }
  c?.close();
}

/**
 * Jobs still anywhere in the cluster (ready, reserved, delayed, buried), asked of each node directly:
 * the proxy's merged stats leave out a node it still holds for down.
 */
async function jobsLeft(nodePorts: number[]): Promise<number> {
  let n = 0;
  for (const port of nodePorts) {
    const c = await RawClient.open(port);
    try {
      const r = await c.cmd('stats');
      if (!r.line.startsWith('OK ')) return Number.POSITIVE_INFINITY;
      const text = r.body?.toString() ?? '';
      for (const key of ['ready', 'reserved', 'delayed', 'buried']) {
        n += Number(new RegExp(`current-jobs-${key}: (\\d+)`).exec(text)?.[1] ?? 1);
      }
    } finally {
      c.close();
    }
  }
  return n;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

async function main(): Promise<void> {
  const minutes = flag('minutes', 10);
  const killEverySec = flag('kill-every', 30);
  const rate = flag('rate', 300);
  const producers = flag('producers', 4);
  const workers = flag('workers', 8);
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-soak-'));
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const startNode = (i: number): Promise<StalkdProcess> =>
    startNodeProcess(['-p', String(ports[i]), '-b', join(dir, `n${i}`), '-f', '0']);
  const nodes = await Promise.all([0, 1, 2].map(startNode));
  const proxy = await startProxyProcess(ports, ['--node-timeout-ms', '2000']);
  const nodeList = ports.map((port, i) => `node-${i}=127.0.0.1:${port}`).join(',');
  const soak: Soak = {
    ledger: new SoakLedger(),
    proxyPort: proxy.port,
    placement: new Placement(topologyFromNodeList(nodeList)),
    phase: 'load',
    errors: new Map(),
    reconnects: 0,
    rss: { proxy: [], nodes: [[], [], []] },
  };
  const startedMs = Date.now();
  const endMs = startedMs + minutes * 60_000;
  console.log(`soak: ${minutes} min, a node killed every ${killEverySec} s, ${rate} puts/s, dir ${dir}`);
  const sampler = setInterval(() => {
    soak.rss.proxy.push(proxy.rss());
    nodes.forEach((n, i) => {
      try {
        soak.rss.nodes[i]?.push(n.rss());
      } catch {
        // killed a moment ago: no sample
      }
    });
    const c = soak.ledger.counts;
    const s = Math.round((Date.now() - startedMs) / 1000);
    if (s % 30 < 5) {
      console.log(
        `${s} s: ${c.putsAcked} puts acked, ${c.deletes} deleted, proxy RSS ${(proxy.rss() / MiB).toFixed(1)} MiB`,
      );
    }
  }, 5000);
  let kills = 0;
  const killer = (async () => {
    while (Date.now() + killEverySec * 1000 < endMs) {
      await sleep(killEverySec * 1000);
      const i = kills++ % 3;
      soak.ledger.nodeKilled(i, Date.now());
      await nodes[i]?.kill();
      await sleep(1000 + Math.random() * 2000);
      nodes[i] = await startNode(i);
    }
  })();
  const loops = [
    ...Array.from({ length: producers }, (_, k) => producer(soak, k, rate / producers)),
    ...Array.from({ length: workers }, () => worker(soak)),
    kickerAndReader(soak),
  ];
  try {
    await sleep(endMs - Date.now());
    soak.phase = 'drain';
    await killer;
    const drainStartedMs = Date.now();
    const backlog = await jobsLeft(ports).catch(() => Number.NaN);
    console.log(`load over: ${backlog} jobs queued; draining`);
    // The backlog at the end of the load can be large (slow jobs overrun their TTR and come back
    // until the drain): drain for as long as it shrinks, and give up only after it stalls.
    let left = Number.POSITIVE_INFINITY;
    let best = left;
    let progressedAtMs = Date.now();
    while (left > 0 && Date.now() - progressedAtMs < DRAIN_STALL_MS) {
      await sleep(500);
      left = await jobsLeft(ports).catch(() => Number.POSITIVE_INFINITY);
      if (left < best) {
        best = left;
        progressedAtMs = Date.now();
      }
    }
    soak.phase = 'done';
    await Promise.all(loops);
    clearInterval(sampler);
    soak.ledger.finalCheck();
    if (left > 0) soak.ledger.violations.push(`${left} jobs still queued after the drain`);
    // RSS flat: the proxy's last fifth against its second fifth (the first is warm-up).
    const p = soak.rss.proxy;
    const fifth = Math.max(1, Math.floor(p.length / 5));
    const early = mean(p.slice(fifth, 2 * fifth));
    const late = mean(p.slice(-fifth));
    if (late - early > Math.max(early * 0.25, 64 * MiB)) {
      soak.ledger.violations.push(
        `proxy RSS grew from ${(early / MiB).toFixed(1)} to ${(late / MiB).toFixed(1)} MiB`,
      );
    }
    const c = soak.ledger.counts;
    console.log('--- summary');
    console.log(
      `load ${minutes} min + drain ${((Date.now() - drainStartedMs) / 1000).toFixed(1)} s, ${kills} node kills, ${soak.reconnects} client reconnects`,
    );
    console.log(
      `puts: ${c.putsSent} sent, ${c.putsAcked} acknowledged, ${c.putsFailed} failed (${c.unackedDelivered} of those were stored and delivered)`,
    );
    console.log(
      `deliveries: ${c.deliveries}; ${c.deletes} deletes; redelivered after release/bury ${c.redeliveredAfterRelease}, after TTR expiry ${c.redeliveredAfterTtr}, after a lost hold ${c.redeliveredAfterLoss}`,
    );
    const mb = (xs: number[]): string =>
      `${(Math.min(...xs) / MiB).toFixed(1)}..${(Math.max(...xs) / MiB).toFixed(1)}`;
    console.log(
      `proxy RSS MiB: early ${(early / MiB).toFixed(1)}, late ${(late / MiB).toFixed(1)}, range ${mb(p)}; nodes ${soak.rss.nodes.map(mb).join(' / ')}`,
    );
    console.log(`errors seen by clients: ${JSON.stringify(Object.fromEntries(soak.errors))}`);
    if (soak.ledger.violations.length > 0) {
      console.log(`FAILED: ${soak.ledger.violations.length} violations`);
      for (const v of soak.ledger.violations) console.log(`  ${v}`);
      process.exitCode = 1;
    } else console.log('OK: no violations');
  } finally {
    soak.phase = 'done';
    clearInterval(sampler);
    await proxy.kill();
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`FAILED: ${err.stack ?? err.message}`);
  process.exit(1);
});
