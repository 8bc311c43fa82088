/**
 * The elastic cluster's test bed (docs/migration.md): nodes and two proxies in this process,
 * producers and consumers through the proxies over 64 tubes with ready, delayed, buried and
 * reserved jobs, a ledger of every acknowledged put, and the end-of-test drain and checks.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJobId } from '../../src/proxy/job-id';
import { type ProxyServer, startProxyServer } from '../../src/proxy/server';
import { parseTopology, type Topology } from '../../src/proxy/topology';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { CLI_PATH } from './cli-process';
import { RawClient } from './proxy-harness';

export const TUBES = Array.from({ length: 64 }, (_, i) => `ec-${i}`);
const POOL = { nodeTimeoutMs: 2000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 };

/** A node as the topology file lists it. */
export interface NodeEntry {
  name: string;
  index: number;
  host: string;
  port: number;
}

export interface Entry {
  tube: string;
  delaySecs: number;
  buried: boolean;
  putAtMs: number;
  delivered: number;
  deliveredAtMs: number;
}

/** What the producers put: the n-th job's delay (s) and whether its first consumer buries it. */
export type JobShape = (n: number) => { delaySecs: number; buried: boolean };

export const DEFAULT_SHAPE: JobShape = (n) => ({
  delaySecs: n % 5 === 0 ? 1 + (n % 4) : 0,
  buried: n % 11 === 3,
});

export function topologyFile(dir: string, doc: unknown): { file: string; topology: Topology } {
  const file = join(dir, 'topology.json');
  writeFileSync(file, JSON.stringify(doc));
  return { file, topology: parseTopology(doc) };
}

/** `stalkd migrate --json` as a process; `onStart` sees the child (to kill it). */
export async function migrateOnce(
  file: string,
  onStart?: (child: ChildProcess, out: () => string) => void,
): Promise<{ status: number | null; signal: NodeJS.Signals | null; out: string }> {
  const child = spawn(process.execPath, [CLI_PATH, 'migrate', '--topology', file, '--json', '--wait', '10']);
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  onStart?.(child, () => out);
  const [status, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { status, signal, out };
}

/**
 * Runs migrate until it reports nothing left on non-owners (exit 0; at most 3 runs): under load a
 * worker may bury, on the old node, a job it reserved there before the move — the next run moves it.
 */
export async function migrate(file: string): Promise<{ status: number | null; out: string }> {
  let out = '';
  for (let run = 0; run < 3; run++) {
    const r = await migrateOnce(file);
    out += r.out;
    if (r.status !== 2) return { status: r.status, out };
  }
  return { status: 2, out };
}

export class ElasticBed {
  readonly ledger = new Map<string, Entry>();
  readonly errors: string[] = [];
  private stopped = false;
  private seq = 0;
  private load: Promise<void>[] = [];

  private constructor(
    readonly servers: NodeServer[],
    readonly nodes: NodeEntry[],
    readonly proxies: ProxyServer[],
    readonly dir: string,
  ) {}

  /** Four nodes, two proxies over the first three. */
  static async start(): Promise<ElasticBed> {
    const servers = await Promise.all(
      [0, 1, 2, 3].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })),
    );
    const nodes = servers.map((s, index) => ({
      name: `node-${index}`,
      index,
      host: '127.0.0.1',
      port: s.port,
    }));
    const dir = mkdtempSync(join(tmpdir(), 'stalkd-elastic-'));
    const three = topologyFile(dir, { nodes: nodes.slice(0, 3) });
    const proxies = await Promise.all(
      [0, 1].map(() =>
        startProxyServer({ port: 0, nodes: three.topology.nodes, pool: POOL, scanIntervalMs: 300 }),
      ),
    );
    return new ElasticBed(servers, nodes, proxies, dir);
  }

  /** One producer per proxy and two consumers per proxy, until stop(). */
  startLoad(shape: JobShape = DEFAULT_SHAPE): void {
    this.load = [
      ...this.proxies.map((p, k) => this.produce(p, k, shape)),
      ...this.proxies.flatMap((p) => [this.consume(p), this.consume(p)]),
    ];
  }

  async untilPuts(n: number): Promise<void> {
    while (this.ledger.size < n) await new Promise((r) => setImmediate(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.load);
  }

  async close(): Promise<void> {
    await this.stop();
    await Promise.all(this.proxies.map((p) => p.close()));
    await Promise.all(this.servers.map((s) => s.close()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async produce(proxy: ProxyServer, k: number, shape: JobShape): Promise<void> {
    const c = await RawClient.open(proxy.port);
    while (!this.stopped) {
      const n = this.seq++;
      const tube = TUBES[n % TUBES.length] as string;
      const { delaySecs, buried } = shape(n);
      const body = `job-${k}-${n}`;
      await c.cmd(`use ${tube}`);
      const entry: Entry = { tube, delaySecs, buried, putAtMs: Date.now(), delivered: 0, deliveredAtMs: 0 };
      this.ledger.set(body, entry); // before the put: a consumer may have the job before its reply is read
      const ownerBefore = proxy.routing.ownerOf(tube);
      const id = await c.put(body, n % 3, delaySecs, 30);
      const owners = [ownerBefore, proxy.routing.ownerOf(tube)];
      const on = decodeJobId(id)?.nodeIndex ?? -1;
      if (!owners.includes(on)) this.errors.push(`${body} put on node ${on}, owner ${owners.join('/')}`);
    }
    c.close();
  }

  private async consume(proxy: ProxyServer): Promise<void> {
    const c = await RawClient.open(proxy.port);
    for (const t of TUBES) await c.cmd(`watch ${t}`);
    await c.cmd('ignore default');
    while (!this.stopped) {
      const r = await c.cmd('reserve-with-timeout 1');
      if (!r.line.startsWith('RESERVED ')) continue;
      const id = r.line.split(' ')[1] as string;
      const body = r.body?.toString() ?? '';
      const entry = this.ledger.get(body);
      if (!entry) {
        this.errors.push(`unknown job ${body}`);
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
  }

  /**
   * After stop(): kicks every buried job through the proxy and consumes everything left, then
   * checks the ledger — every job delivered exactly once, no delayed job more than 1 s early.
   */
  async drainAndCheck(): Promise<void> {
    const c = await RawClient.open((this.proxies[0] as ProxyServer).port);
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
      const entry = this.ledger.get(r.body?.toString() ?? '');
      if (entry) {
        entry.delivered++;
        if (entry.deliveredAtMs === 0) entry.deliveredAtMs = Date.now();
      }
      await c.cmd(`delete ${r.line.split(' ')[1]}`);
    }
    c.close();
    assert.deepEqual(this.errors, []);
    const wrong = [...this.ledger]
      .filter(([, e]) => e.delivered !== 1)
      .map(([b, e]) => `${b}: ${e.delivered}`);
    assert.deepEqual(wrong, [], 'every acknowledged job delivered exactly once');
    const early = [...this.ledger].filter(
      ([, e]) => e.delaySecs > 0 && !e.buried && e.deliveredAtMs < e.putAtMs + (e.delaySecs - 1) * 1000,
    );
    assert.deepEqual(
      early.map(([b]) => b),
      [],
      'no delayed job came out more than 1 s early',
    );
  }
}
