/**
 * The elastic cluster end to end (issue 15, docs/migration.md): under continuous producer/consumer
 * load through two proxies, with ready, delayed (1–5 s), buried and reserved jobs in 64 tubes,
 * a 4th node joins (both proxies reload, a few hundred ms apart), `stalkd migrate` runs (a real
 * process), then node-0 leaves (marked leaving, migrate again, then out of the file). A ledger of
 * every acknowledged put is balanced at the end: every job delivered exactly once, buried jobs
 * still buried and kickable through the proxy, delays kept (not early by more than 1 s), nothing
 * left on a non-owner, and puts of moved tubes landing on their new owner.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { planMoves } from '../../src/cli/migrate';
import { decodeJobId } from '../../src/proxy/job-id';
import { type ProxyServer, startProxyServer } from '../../src/proxy/server';
import { parseTopology, type Topology } from '../../src/proxy/topology';
import { startNodeServer } from '../../src/server/node-server';
import { CLI_PATH } from '../support/cli-process';
import { RawClient } from '../support/proxy-harness';

const TUBES = Array.from({ length: 64 }, (_, i) => `ec-${i}`);
const POOL = { nodeTimeoutMs: 2000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 };

interface Entry {
  tube: string;
  delaySecs: number;
  buried: boolean;
  putAtMs: number;
  delivered: number;
  deliveredAtMs: number;
}

function topologyFile(dir: string, doc: unknown): { file: string; topology: Topology } {
  const file = join(dir, 'topology.json');
  writeFileSync(file, JSON.stringify(doc));
  return { file, topology: parseTopology(doc) };
}

/** `stalkd migrate` as a process (asynchronously: the nodes and proxies live in this one). */
async function migrateOnce(file: string): Promise<{ status: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI_PATH, 'migrate', '--topology', file, '--json', '--wait', '10']);
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const [status] = (await once(child, 'exit')) as [number | null];
  return { status, out };
}

/**
 * Runs migrate until it reports nothing left on non-owners (exit 0; at most 3 runs): under load a
 * worker may bury, on the old node, a job it reserved there before the move — the next run moves it.
 */
async function migrate(file: string): Promise<{ status: number | null; out: string }> {
  let out = '';
  for (let run = 0; run < 3; run++) {
    const r = await migrateOnce(file);
    out += r.out;
    if (r.status !== 2) return { status: r.status, out };
  }
  return { status: 2, out };
}

test('elastic cluster: add a node, migrate, remove a node, migrate — under load, every job once', async () => {
  const servers = await Promise.all([0, 1, 2, 3].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
  const nodes = servers.map((s, index) => ({
    name: `node-${index}`,
    index,
    host: '127.0.0.1',
    port: s.port,
  }));
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-elastic-'));
  const three = topologyFile(dir, { nodes: nodes.slice(0, 3) });
  const proxies: ProxyServer[] = await Promise.all(
    [0, 1].map(() =>
      startProxyServer({ port: 0, nodes: three.topology.nodes, pool: POOL, scanIntervalMs: 300 }),
    ),
  );
  const ledger = new Map<string, Entry>();
  let stop = false;
  let seq = 0;
  const errors: string[] = [];
  const produce = async (proxy: ProxyServer, k: number): Promise<void> => {
    const c = await RawClient.open(proxy.port);
    while (!stop) {
      const n = seq++;
      const tube = TUBES[n % TUBES.length] as string;
      const delaySecs = n % 5 === 0 ? 1 + (n % 4) : 0;
      const buried = n % 11 === 3;
      const body = `job-${k}-${n}`;
      await c.cmd(`use ${tube}`);
      const entry: Entry = { tube, delaySecs, buried, putAtMs: Date.now(), delivered: 0, deliveredAtMs: 0 };
      ledger.set(body, entry); // before the put: a consumer may have the job before its reply is read
      const ownerBefore = proxy.routing.ownerOf(tube);
      const id = await c.put(body, n % 3, delaySecs, 30);
      const owners = [ownerBefore, proxy.routing.ownerOf(tube)];
      const on = decodeJobId(id)?.nodeIndex ?? -1;
      if (!owners.includes(on)) errors.push(`${body} put on node ${on}, owner ${owners.join('/')}`);
    }
    c.close();
  };
  const consume = async (proxy: ProxyServer): Promise<void> => {
    const c = await RawClient.open(proxy.port);
    for (const t of TUBES) await c.cmd(`watch ${t}`);
    await c.cmd('ignore default');
    while (!stop) {
      const r = await c.cmd('reserve-with-timeout 1');
      if (!r.line.startsWith('RESERVED ')) continue;
      const id = r.line.split(' ')[1] as string;
      const body = r.body?.toString() ?? '';
      const entry = ledger.get(body);
      if (!entry) {
        errors.push(`unknown job ${body}`);
        continue;
      }
      if (entry.buried && entry.delivered === 0 && !entry.deliveredAtMs) {
        entry.deliveredAtMs = -1; // seen once: bury it, it comes back when kicked
        assert.equal((await c.cmd(`bury ${id} 5`)).line, 'BURIED');
        continue;
      }
      entry.delivered++;
      entry.deliveredAtMs = Date.now();
      assert.equal((await c.cmd(`delete ${id}`)).line, 'DELETED');
    }
    c.close();
  };
  const load = [...proxies.map((p, k) => produce(p, k)), ...proxies.flatMap((p) => [consume(p), consume(p)])];
  try {
    while (ledger.size < 400) await new Promise((r) => setImmediate(r));
    // A 4th node joins: the file changes, the proxies reload a few hundred ms apart.
    const four = topologyFile(dir, { nodes });
    await (proxies[0] as ProxyServer).reload(four.topology);
    const settled = ledger.size;
    while (ledger.size < settled + 150) await new Promise((r) => setImmediate(r));
    await (proxies[1] as ProxyServer).reload(four.topology);
    const first = await migrate(four.file);
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /"event":"moved"/);
    // node-0 leaves: first marked leaving, migrate empties it, then it goes from the file.
    const leaving = topologyFile(dir, { nodes: [{ ...nodes[0], leaving: true }, ...nodes.slice(1)] });
    await Promise.all(proxies.map((p) => p.reload(leaving.topology)));
    const second = await migrate(leaving.file);
    assert.equal(second.status, 0, second.out);
    assert.match(second.out, /"event":"leaving","node":"node-0","jobs":0,"empty":true/);
    const gone = topologyFile(dir, { nodes: nodes.slice(1) });
    await Promise.all(proxies.map((p) => p.reload(gone.topology)));
    stop = true;
    await Promise.all(load);
    assert.deepEqual(await planMoves(gone.topology), [], 'nothing left on a non-owner');
    // Drain: kick every buried job through the proxy, consume everything left.
    const c = await RawClient.open((proxies[0] as ProxyServer).port);
    for (const t of TUBES) await c.cmd(`watch ${t}`);
    await c.cmd('ignore default');
    for (;;) {
      for (const t of TUBES) {
        // Buried jobs only (a kick in a tube without buried ones would kick delayed jobs early).
        const buried = /^current-jobs-buried: (\d+)$/m.exec(
          (await c.cmd(`stats-tube ${t}`)).body?.toString() ?? '',
        );
        if (Number(buried?.[1] ?? 0) === 0) continue;
        await c.cmd(`use ${t}`);
        assert.match((await c.cmd(`kick ${buried?.[1]}`)).line, /^KICKED [1-9]/, 'buried jobs stay kickable');
      }
      const r = await c.cmd('reserve-with-timeout 6');
      if (r.line === 'TIMED_OUT') break;
      const entry = ledger.get(r.body?.toString() ?? '');
      if (entry) {
        entry.delivered++;
        if (entry.deliveredAtMs === 0) entry.deliveredAtMs = Date.now();
      }
      await c.cmd(`delete ${r.line.split(' ')[1]}`);
    }
    c.close();
    assert.deepEqual(errors, []);
    const wrong = [...ledger].filter(([, e]) => e.delivered !== 1).map(([b, e]) => `${b}: ${e.delivered}`);
    assert.deepEqual(wrong, [], 'every acknowledged job delivered exactly once');
    const early = [...ledger].filter(
      ([, e]) => e.delaySecs > 0 && !e.buried && e.deliveredAtMs < e.putAtMs + (e.delaySecs - 1) * 1000,
    );
    assert.deepEqual(
      early.map(([b]) => b),
      [],
      'no delayed job came out more than 1 s early',
    );
    console.log(
      `elastic cluster: ${ledger.size} jobs, migrate moved ${(first.out.match(/"event":"moved"/g) ?? []).length} + ${(second.out.match(/"event":"moved"/g) ?? []).length}`,
    );
  } finally {
    stop = true;
    await Promise.allSettled(load);
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
