/**
 * The live dashboard, mounted on an HTTP server that offers routes and upgrade handlers (the
 * proxy's metrics/admin server, MetricsServer):
 *
 *   GET /                       → 302 /dashboard/ (and /favicon.ico → 204)
 *   GET /dashboard/             the page (static/index.html, dashboard.js, dashboard.css)
 *   GET /dashboard/ws           WebSocket: snapshots and diffs every second, peeks, admin actions
 *
 * Figures come from the nodes directly (collector.ts); peeks and admin actions go through `target`,
 * the endpoint clients use (the proxy's client port), so job ids match what clients see.
 */
import type http from 'node:http';
import { DEFAULT_PEEK_BODY_BYTES } from '../client/job-view';
import type { MetricsServer } from '../metrics/metrics-server';
import type { TubeMover } from './actions';
import { AdminToken } from './admin-token';
import type { ClusterView } from './cluster-view';
import { type CollectorOptions, SnapshotCollector } from './collector';
import { DEFAULT_HUB_LIMITS, type HubLimits, LiveHub } from './live-hub';
import { OpsChannel, type OpsTarget } from './ops-channel';
import {
  findStaticDir,
  loadStaticAssets,
  type StaticAsset,
  type StaticName,
  serveAsset,
} from './static-files';

export {
  ActionCode,
  ActionError,
  type MoveProgress,
  type MoveTubeResult,
  type TubeMover,
} from './actions';
export { ADMIN_TOKEN_ENV, READ_TOKEN_ENV } from './admin-token';
export {
  type ClusterView,
  type DashboardNodeInfo,
  type DashboardShardInfo,
  singleEndpointView,
} from './cluster-view';
export { DASHBOARD_WS_PATH } from './live-hub';

export type DashboardHost = Pick<MetricsServer, 'addRoute' | 'addUpgradeHandler'>;

export interface DashboardOptions extends CollectorOptions {
  view: ClusterView;
  /** Where peeks and admin actions are sent: the proxy's client port (a node for a lone node). */
  target: OpsTarget;
  /** Admin actions are refused unless a request carries this token; unset = admin disabled. */
  adminToken?: string | undefined;
  /** Peeks (job bodies) need this token or the admin token; neither set = peeks disabled. */
  readToken?: string | undefined;
  /** Largest part of a job body a peek shows. */
  peekBodyBytes?: number;
  /** Deadline for one peek or admin action (not clear, which reports progress instead). */
  opsTimeoutMs?: number;
  limits?: Partial<HubLimits>;
  /** Audit and diagnostics lines (never contain the token); default stderr. */
  log?: (line: string) => void;
  /** The "move tube T to node N" action (src/cli/dashboard-move.ts); absent: refused. */
  mover?: TubeMover | undefined;
  /** Folder with index.html etc.; default: found next to the sources (static-files.ts). */
  staticDir?: string;
}

export interface Dashboard {
  readonly viewerCount: number;
  readonly adminEnabled: boolean;
  /** Where the page's files were found, or undefined (the page then answers 503). */
  readonly staticDir: string | undefined;
  close(): Promise<void>;
}

const ROUTES: ReadonlyArray<[string, StaticName]> = [
  ['/dashboard/', 'index.html'],
  ['/dashboard/index.html', 'index.html'],
  ['/dashboard/dashboard.js', 'dashboard.js'],
  ['/dashboard/balance.js', 'balance.js'],
  ['/dashboard/dashboard.css', 'dashboard.css'],
];

export function attachDashboard(host: DashboardHost, options: DashboardOptions): Dashboard {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const staticDir = options.staticDir ?? findStaticDir();
  const assets = staticDir ? loadStaticAssets(staticDir) : new Map<StaticName, StaticAsset>();
  if (!staticDir) log('dashboard: page files not found; /dashboard/ will answer 503');
  const token = new AdminToken(options.adminToken);
  const collectorOptions: CollectorOptions = {};
  if (options.maxTubesPerNode !== undefined) collectorOptions.maxTubesPerNode = options.maxTubesPerNode;
  if (options.requestTimeoutMs !== undefined) collectorOptions.requestTimeoutMs = options.requestTimeoutMs;
  if (options.history !== undefined) collectorOptions.history = options.history;
  const hub = new LiveHub(
    {
      collector: new SnapshotCollector(options.view, collectorOptions),
      ops: new OpsChannel(options.target, options.opsTimeoutMs ?? 5000),
      token,
      readToken: new AdminToken(options.readToken),
      peekBodyBytes: options.peekBodyBytes ?? DEFAULT_PEEK_BODY_BYTES,
      log,
      mover: options.mover,
    },
    { ...DEFAULT_HUB_LIMITS, ...options.limits },
  );
  for (const [path, name] of ROUTES) {
    host.addRoute(path, (req, res) => serveAsset(res, assets.get(name), req.method === 'HEAD'));
  }
  const redirect = (location: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(302, { Location: location, 'Content-Length': 0 }).end();
  };
  host.addRoute('/', redirect('/dashboard/'));
  host.addRoute('/dashboard', redirect('/dashboard/'));
  // Browsers ask for it on every page load; answering 204 keeps a 404 out of their console.
  host.addRoute('/favicon.ico', (_req, res) => void res.writeHead(204).end());
  host.addUpgradeHandler((req, socket, head) => hub.handleUpgrade(req, socket, head));
  return {
    get viewerCount() {
      return hub.viewerCount;
    },
    adminEnabled: token.enabled,
    staticDir,
    close: () => hub.close(),
  };
}
