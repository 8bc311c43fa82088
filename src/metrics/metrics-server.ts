/**
 * The HTTP side of a stalkd process: `/metrics` (Prometheus text), `/livez`, `/readyz`, 404 for
 * anything else. Other endpoints (the proxy's dashboard page and its WebSocket) mount on the same
 * listener with `addRoute` and `addUpgradeHandler`.
 *
 * Health semantics (Kubernetes probes):
 *   /livez  — process-local only: 200 while `live()` is true. Never depends on other processes.
 *   /readyz — 200 "ok" while `ready().ok`, else 503 with the reason as the body.
 *
 * Concurrent scrapes share one render, so a burst of scrapers costs one. A render yields to the
 * event loop between families (renderMetrics), so client traffic waits at most for the costliest
 * single family, never for the whole scrape.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The registry's text exposition (as `registry.metrics()` renders it), one family at a time with
 * an event-loop turn between families: with 10 000 tubes and the default cap, no chunk blocks for
 * more than a few milliseconds.
 */
export async function renderMetrics(registry: Registry): Promise<string> {
  const parts: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    parts.push(await registry.getSingleMetricAsString(metric.name));
    await yieldToLoop();
  }
  return `${parts.join('\n\n')}\n`;
}

export interface Readiness {
  ok: boolean;
  /** Why not ready (shown in the /readyz body); ignored when ok. */
  reason?: string;
}

export interface MetricsServerOptions {
  host: string;
  /** 0 = any free port (tests); the CLI treats 0 as "metrics off" and never gets here. */
  port: number;
  registry: Registry;
  live: () => boolean;
  ready: () => Readiness;
}

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
/** Returns true when it took the socket; otherwise the next handler (or a 404) gets it. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Socket, head: Buffer) => boolean;

const TEXT = 'text/plain; charset=utf-8';

export class MetricsServer {
  private readonly http: http.Server;
  private readonly routes = new Map<string, RouteHandler>();
  private readonly upgrades: UpgradeHandler[] = [];
  private rendering: Promise<string> | undefined;

  constructor(private readonly options: MetricsServerOptions) {
    this.http = http.createServer((req, res) => this.handle(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      for (const handler of this.upgrades) if (handler(req, socket, head)) return;
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    this.routes.set('/metrics', (_req, res) => this.serveMetrics(res));
    this.routes.set('/livez', (_req, res) => {
      const live = this.options.live();
      reply(res, live ? 200 : 503, live ? 'ok\n' : 'not live\n');
    });
    this.routes.set('/readyz', (_req, res) => {
      const r = this.options.ready();
      reply(res, r.ok ? 200 : 503, r.ok ? 'ok\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
    });
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  get host(): string {
    const address = this.http.address();
    return typeof address === 'object' && address ? address.address : '';
  }

  /** Serves GET/HEAD on an exact path (query string ignored); replaces an earlier handler. */
  addRoute(path: string, handler: RouteHandler): void {
    this.routes.set(path, handler);
  }

  addUpgradeHandler(handler: UpgradeHandler): void {
    this.upgrades.push(handler);
  }

  async listen(): Promise<void> {
    this.http.listen(this.options.port, this.options.host);
    await once(this.http, 'listening');
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const handler = this.routes.get(q < 0 ? url : url.slice(0, q));
    if (!handler) {
      reply(res, 404, 'not found\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply(res, 405, 'method not allowed\n');
    } else {
      handler(req, res);
    }
  }

  private serveMetrics(res: http.ServerResponse): void {
    if (!this.rendering) {
      this.rendering = renderMetrics(this.options.registry).finally(() => {
        this.rendering = undefined;
      });
    }
    this.rendering.then(
      (body) => {
        res.writeHead(200, { 'Content-Type': this.options.registry.contentType });
        res.end(body);
      },
      (err: unknown) =>
        reply(res, 500, `collect failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  }
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': TEXT, 'Cache-Control': 'no-store' });
  res.end(body);
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server = new MetricsServer(options);
  await server.listen();
  return server;
}
