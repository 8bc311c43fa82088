/**
 * A proxy over three in-process stalkd nodes with the dashboard mounted on a metrics server, and
 * a WebSocket viewer that keeps the table the way the page does (snapshot, then diffs) and can
 * wait for a condition on it — driven by messages, never by sleeping.
 */
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { proxyClusterView } from '../../src/cli/proxy-view';
import { attachDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard';
import { applyDiff, type Snapshot, type SnapshotDiff, type TubeRow } from '../../src/dashboard/snapshot';
import { type MetricsServer, startMetricsServer } from '../../src/metrics/metrics-server';
import { type ProxyCluster, startStalkdCluster } from './proxy-harness';

export interface DashboardCluster {
  cluster: ProxyCluster;
  metrics: MetricsServer;
  dashboard: Dashboard;
  /** http://127.0.0.1:PORT */
  base: string;
  /** The tube's row on its owner node. */
  ownerKey(tube: string): string;
  stop(): Promise<void>;
}

export async function startDashboardCluster(
  options: Partial<Omit<DashboardOptions, 'view' | 'target'>> = {},
): Promise<DashboardCluster> {
  const cluster = await startStalkdCluster(3);
  const metrics = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    live: () => true,
    ready: () => ({ ok: true }),
  });
  const logged: string[] = [];
  const dashboard = attachDashboard(metrics, {
    view: proxyClusterView(cluster.proxy),
    target: { host: '127.0.0.1', port: cluster.proxy.port },
    log: (line) => logged.push(line),
    ...options,
    limits: { intervalMs: 200, ...options.limits },
  });
  return {
    cluster,
    metrics,
    dashboard,
    base: `http://127.0.0.1:${metrics.port}`,
    ownerKey: (tube) => `${cluster.proxy.placement.ownerOf(tube).index}/${tube}`,
    stop: async () => {
      await dashboard.close();
      await metrics.close();
      await cluster.stop();
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
  | { type: 'progress'; id: number; deleted: number; total: number }
  | Reply;

export class Viewer {
  snapshot: Snapshot | null = null;
  hello: { admin: boolean; peek: boolean } | null = null;
  readonly progress: Array<{ deleted: number; total: number }> = [];
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
