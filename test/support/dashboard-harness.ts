/**
 * A proxy over three in-process stalkd nodes with the dashboard mounted on a metrics server, and
 * a WebSocket viewer that keeps the table the way the page does (snapshot, then diffs) and can
 * wait for a condition on it — driven by messages, never by sleeping.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { TopologyTubeMover } from '../../src/cli/dashboard-move';
import { proxyClusterView } from '../../src/cli/proxy-view';
import { attachDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard';
import { applyDiff, type Snapshot, type SnapshotDiff, type TubeRow } from '../../src/dashboard/snapshot';
import { type MetricsServer, startMetricsServer } from '../../src/metrics/metrics-server';
import { loadTopologyFile } from '../../src/proxy/topology';
import { TopologyReloader } from '../../src/proxy/topology-reload';
import { type ProxyCluster, startStalkdCluster } from './proxy-harness';

export interface DashboardCluster {
  cluster: ProxyCluster;
  /** With `withTopology`: the file the proxy follows (its reloader watches it) and the reloader. */
  topologyFile: string;
  reloader: TopologyReloader | null;
  /** The dashboard's log lines (audit, refusals). */
  logged: string[];
  metrics: MetricsServer;
  dashboard: Dashboard;
  /** http://127.0.0.1:PORT */
  base: string;
  /** The tube's row on its owner node. */
  ownerKey(tube: string): string;
  stop(): Promise<void>;
}

/**
 * The proxy following a topology file of its nodes in a fresh temp dir, and the dashboard's "move
 * tube" action on it, wired as `stalkd proxy --topology` does (src/cli/proxy.ts).
 */
function followTopologyFile(cluster: ProxyCluster, logged: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-dashboard-topology-'));
  const file = join(dir, 'topology.json');
  const nodes = cluster.nodes.map((n, index) => ({
    name: `node-${index}`,
    index,
    host: n.host,
    port: n.port,
  }));
  writeFileSync(file, `${JSON.stringify({ version: 1, nodes }, null, 2)}\n`);
  const reloader = new TopologyReloader(file, loadTopologyFile(file), cluster.proxy, {
    reloaded: (_t, version) => logged.push(`topology reloaded ${version}`),
    refused: (err) => logged.push(`topology refused: ${err.message}`),
  });
  reloader.watch();
  const mover = new TopologyTubeMover({ file, followed: () => reloader, waitMs: 2000 });
  return { dir, file, reloader, mover };
}

export async function startDashboardCluster(
  options: Partial<Omit<DashboardOptions, 'view' | 'target'>> & { withTopology?: boolean } = {},
): Promise<DashboardCluster> {
  const { withTopology, ...dashboardOptions } = options;
  const cluster = await startStalkdCluster(3);
  const metrics = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    live: () => true,
    ready: () => ({ ok: true }),
  });
  const logged: string[] = [];
  const followed = withTopology ? followTopologyFile(cluster, logged) : undefined;
  const dashboard = attachDashboard(metrics, {
    view: proxyClusterView(cluster.proxy),
    target: { host: '127.0.0.1', port: cluster.proxy.port },
    log: (line) => logged.push(line),
    ...(followed ? { mover: followed.mover } : {}),
    ...dashboardOptions,
    limits: { intervalMs: 200, ...options.limits },
  });
  return {
    cluster,
    topologyFile: followed?.file ?? '',
    reloader: followed?.reloader ?? null,
    logged,
    metrics,
    dashboard,
    base: `http://127.0.0.1:${metrics.port}`,
    ownerKey: (tube) => `${cluster.proxy.placement.ownerOf(tube).index}/${tube}`,
    stop: async () => {
      followed?.reloader.close();
      await dashboard.close();
      await metrics.close();
      await cluster.stop();
      if (followed) rmSync(followed.dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  type: 'reply';
  id: number | string | null;
  ok: boolean;
  code?: string;
  error?: string;
  result?: Record<string, unknown>;
}

type Message =
  | { type: 'hello'; admin: boolean; peek: boolean; intervalMs: number }
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'diff'; diff: SnapshotDiff }
  | { type: 'progress'; id: number; deleted?: number; moved?: number; total: number }
  | Reply;

export class Viewer {
  snapshot: Snapshot | null = null;
  hello: { admin: boolean; peek: boolean } | null = null;
  readonly progress: Array<{ deleted?: number; moved?: number; total: number }> = [];
  readonly kinds: string[] = [];
  closeCode: number | null = null;
  private nextId = 1;
  private readonly replies = new Map<number | string, (r: Reply) => void>();
  private readonly watchers = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.onMessage(JSON.parse(data.toString()) as Message));
    ws.on('close', (code) => {
      this.closeCode = code;
      this.notify();
    });
  }

  static open(base: string, headers: Record<string, string> = {}): Promise<Viewer> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/dashboard/ws`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Viewer(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  private onMessage(msg: Message): void {
    this.kinds.push(msg.type);
    if (msg.type === 'hello') this.hello = msg;
    else if (msg.type === 'snapshot') this.snapshot = msg.snapshot;
    else if (msg.type === 'diff' && this.snapshot) this.snapshot = applyDiff(this.snapshot, msg.diff);
    else if (msg.type === 'progress') this.progress.push(msg);
    else if (msg.type === 'reply' && msg.id !== null) this.replies.get(msg.id)?.(msg);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Resolves once `check()` holds (checked after every message). */
  waitFor<T>(check: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const value = check();
        if (!value) return false;
        cleanup();
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      const watcher = (): void => void attempt();
      if (!attempt()) this.watchers.add(watcher);
    });
  }

  tube(key: string): TubeRow | undefined {
    return this.snapshot?.tubes.find((t) => t.key === key);
  }

  request(body: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.ws.send(JSON.stringify({ id, ...body }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
