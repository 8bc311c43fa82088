/**
 * The dashboard's WebSocket side (`ws`, attached with noServer to the metrics HTTP server's
 * upgrade event). While at least one viewer is connected it polls the collector once per interval
 * and pushes one message to every viewer: the full snapshot to a viewer that is new or missed
 * something, else the diff from the previous snapshot (serialized once for all).
 *
 * Slow viewers are never buffered without bound: a viewer whose socket still holds more than
 * `softBufferBytes` unsent is skipped that round (it gets a full snapshot once it catches up, which
 * coalesces every update it missed); one that stays behind for `slowGraceMs`, or holds more than
 * `hardBufferBytes`, is terminated. A ping every `heartbeatMs` terminates viewers that did not
 * answer the previous one. Each viewer may have `maxInflight` requests running; admin requests
 * need the admin token, peeks the read or the admin token, and a viewer refused `maxRefusals`
 * times is disconnected.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  ActionCode,
  type ActionContext,
  ActionError,
  type ActionRequest,
  ADMIN_OPS,
  parseActionRequest,
  performAction,
  READ_OPS,
  type TubeMover,
} from './actions';
import type { AdminToken } from './admin-token';
import type { OpsChannel } from './ops-channel';
import { diffSnapshots, type Snapshot } from './snapshot';

export const DASHBOARD_WS_PATH = '/dashboard/ws';

export interface HubLimits {
  intervalMs: number;
  heartbeatMs: number;
  softBufferBytes: number;
  hardBufferBytes: number;
  slowGraceMs: number;
  maxViewers: number;
  maxInflight: number;
  maxRefusals: number;
  /** Largest message a viewer may send. */
  maxMessageBytes: number;
}

export const DEFAULT_HUB_LIMITS: HubLimits = {
  intervalMs: 1000,
  heartbeatMs: 15_000,
  softBufferBytes: 256 * 1024,
  hardBufferBytes: 4 * 1024 * 1024,
  slowGraceMs: 30_000,
  maxViewers: 64,
  maxInflight: 4,
  maxRefusals: 5,
  maxMessageBytes: 16 * 1024,
};

export interface HubDeps {
  collector: { collect(): Promise<Snapshot>; close(): void };
  ops: OpsChannel;
  token: AdminToken;
  /** Opens peeks (as the admin token does too). */
  readToken: AdminToken;
  peekBodyBytes: number;
  log: (line: string) => void;
  /** The "move tube" action (absent: refused as DISABLED). */
  mover?: TubeMover | undefined;
}

interface Viewer extends ViewerPace {
  ws: WebSocket;
  remote: string;
  alive: boolean;
  inflight: number;
  refusals: number;
}

export const Delivery = { Full: 'full', Diff: 'diff', Skip: 'skip', Drop: 'drop' } as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

/** The part of a viewer's state the delivery rule reads and updates. */
export interface ViewerPace {
  needsFull: boolean;
  slowSinceMs: number | null;
}

/**
 * What one viewer gets this round. Behind (more than softBufferBytes unsent): skip, remember that
 * it now needs a full snapshot, and drop it once it has been behind for slowGraceMs. Otherwise
 * the full snapshot if it needs one (new, or skipped rounds) or there is no previous snapshot to
 * diff against, else the diff.
 */
export function deliveryFor(
  pace: ViewerPace,
  bufferedBytes: number,
  haveDiff: boolean,
  nowMs: number,
  limits: Pick<HubLimits, 'softBufferBytes' | 'slowGraceMs'>,
): Delivery {
  if (bufferedBytes > limits.softBufferBytes) {
    pace.needsFull = true;
    pace.slowSinceMs ??= nowMs;
    return nowMs - pace.slowSinceMs > limits.slowGraceMs ? Delivery.Drop : Delivery.Skip;
  }
  pace.slowSinceMs = null;
  return pace.needsFull || !haveDiff ? Delivery.Full : Delivery.Diff;
}

/** A cross-site page may not open the socket from a visitor's browser; tools send no Origin. */
function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function refuseUpgrade(socket: Socket, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function describeRequest(req: ActionRequest): string {
  const { op, ...args } = req;
  return `${op} ${JSON.stringify(args)}`;
}

export class LiveHub {
  private readonly wss: WebSocketServer;
  private readonly viewers = new Set<Viewer>();
  private pollTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private polling = false;
  private last: Snapshot | null = null;
  private closed = false;

  constructor(
    private readonly deps: HubDeps,
    private readonly limits: HubLimits = DEFAULT_HUB_LIMITS,
  ) {
    // Compression off: frames are small and frequent, and deflate state per viewer costs memory.
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: limits.maxMessageBytes,
    });
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** For MetricsServer.addUpgradeHandler: takes the socket if the path is the dashboard's. */
  handleUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== DASHBOARD_WS_PATH) return false;
    if (this.closed) refuseUpgrade(socket, '503 Service Unavailable');
    else if (!sameOrigin(req)) refuseUpgrade(socket, '403 Forbidden');
    else if (this.viewers.size >= this.limits.maxViewers) refuseUpgrade(socket, '503 Service Unavailable');
    else this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopTimers();
    for (const v of this.viewers) v.ws.terminate();
    this.viewers.clear();
    this.deps.collector.close();
    this.deps.ops.close();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const viewer: Viewer = {
      ws,
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      alive: true,
      needsFull: true,
      slowSinceMs: null,
      inflight: 0,
      refusals: 0,
    };
    this.viewers.add(viewer);
    ws.on('pong', () => {
      viewer.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(viewer, data, isBinary));
    ws.on('close', () => this.onViewerGone(viewer));
    ws.on('error', () => ws.terminate());
    this.send(viewer, {
      type: 'hello',
      admin: this.deps.token.enabled,
      peek: this.deps.token.enabled || this.deps.readToken.enabled,
      move: this.deps.token.enabled && this.deps.mover !== undefined,
      intervalMs: this.limits.intervalMs,
    });
    if (this.last && this.send(viewer, { type: 'snapshot', snapshot: this.last })) viewer.needsFull = false;
    this.startTimers();
  }

  private onViewerGone(viewer: Viewer): void {
    this.viewers.delete(viewer);
    if (this.viewers.size > 0) return;
    // Nobody watching: stop polling the nodes and forget the rates' history.
    this.stopTimers();
    this.last = null;
    this.deps.collector.close();
  }

  private startTimers(): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => void this.poll(), this.limits.intervalMs);
    this.pollTimer.unref();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.limits.heartbeatMs);
    this.heartbeatTimer.unref();
    void this.poll();
  }

  private stopTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.pollTimer = null;
    this.heartbeatTimer = null;
  }

  private heartbeat(): void {
    for (const v of this.viewers) {
      if (!v.alive) {
        v.ws.terminate();
        continue;
      }
      v.alive = false;
      v.ws.ping();
    }
  }

  /** One poll at a time: a slow poll makes the next tick skip, never queue. */
  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const snapshot = await this.deps.collector.collect();
      if (this.viewers.size > 0 && !this.closed) this.broadcast(snapshot);
    } catch (err) {
      this.deps.log(`dashboard: poll failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.polling = false;
    }
  }

  private broadcast(snapshot: Snapshot): void {
    const previous = this.last;
    this.last = snapshot;
    let full: string | undefined;
    let diff: string | undefined;
    const now = Date.now();
    for (const v of this.viewers) {
      if (v.ws.readyState !== WebSocket.OPEN) continue;
      const delivery = deliveryFor(v, v.ws.bufferedAmount, previous !== null, now, this.limits);
      if (delivery === Delivery.Drop) this.drop(v, `behind for more than ${this.limits.slowGraceMs} ms`);
      else if (delivery === Delivery.Full) {
        full ??= JSON.stringify({ type: 'snapshot', snapshot });
        if (this.sendText(v, full)) v.needsFull = false;
      } else if (delivery === Delivery.Diff && previous) {
        diff ??= JSON.stringify({ type: 'diff', diff: diffSnapshots(previous, snapshot) });
        this.sendText(v, diff);
      }
    }
  }

  private drop(v: Viewer, why: string): void {
    this.deps.log(`dashboard: dropping viewer ${v.remote}: ${why}`);
    v.ws.terminate();
  }

  private send(v: Viewer, message: unknown): boolean {
    return this.sendText(v, JSON.stringify(message));
  }

  /** Sends unless the viewer's socket is already past the hard limit (then it is dropped). */
  private sendText(v: Viewer, text: string): boolean {
    if (v.ws.readyState !== WebSocket.OPEN) return false;
    if (v.ws.bufferedAmount + text.length > this.limits.hardBufferBytes) {
      this.drop(v, `more than ${this.limits.hardBufferBytes} bytes unsent`);
      return false;
    }
    v.ws.send(text);
    return true;
  }

  private onMessage(v: Viewer, data: RawData, isBinary: boolean): void {
    let msg: unknown;
    try {
      msg = isBinary ? undefined : JSON.parse(data.toString());
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.send(v, {
        type: 'reply',
        id: null,
        ok: false,
        code: ActionCode.BadRequest,
        error: 'not a JSON object',
      });
      return;
    }
    const fields = msg as Record<string, unknown>;
    const id = typeof fields.id === 'number' || typeof fields.id === 'string' ? fields.id : null;
    void this.answer(v, id, fields);
  }

  private async answer(v: Viewer, id: number | string | null, msg: Record<string, unknown>): Promise<void> {
    const reply = (body: Record<string, unknown>) => this.send(v, { type: 'reply', id, ...body });
    let req: ActionRequest | undefined;
    try {
      req = parseActionRequest(msg);
      if (ADMIN_OPS.has(req.op)) this.authorize(v, msg.token, req);
      else if (READ_OPS.has(req.op)) this.authorizeRead(v, msg.token, req);
      if (v.inflight >= this.limits.maxInflight)
        throw new ActionError(ActionCode.Busy, `at most ${this.limits.maxInflight} requests at a time`);
      v.inflight++;
      try {
        const result = await performAction(req, this.actionContext(v, id));
        if (ADMIN_OPS.has(req.op)) this.deps.log(`dashboard: ${v.remote} ${describeRequest(req)}: ok`);
        reply({ ok: true, result });
      } finally {
        v.inflight--;
      }
    } catch (caught) {
      const err =
        caught instanceof ActionError
          ? caught
          : new ActionError(ActionCode.Failed, caught instanceof Error ? caught.message : String(caught));
      if (
        req &&
        ADMIN_OPS.has(req.op) &&
        err.code !== ActionCode.Forbidden &&
        err.code !== ActionCode.Disabled
      )
        this.deps.log(`dashboard: ${v.remote} ${describeRequest(req)}: ${err.code} ${err.message}`);
      reply({ ok: false, code: err.code, error: err.message });
      if (err.code === ActionCode.Forbidden && v.refusals >= this.limits.maxRefusals) {
        this.deps.log(`dashboard: closing ${v.remote} after ${v.refusals} refused admin requests`);
        v.ws.close(1008, 'too many refused admin requests');
      }
    }
  }

  /** Throws FORBIDDEN/DISABLED; the token is never logged or echoed. */
  private authorize(v: Viewer, token: unknown, req: ActionRequest): void {
    if (!this.deps.token.enabled)
      throw new ActionError(
        ActionCode.Disabled,
        'admin actions are disabled: start the proxy with --admin-token',
      );
    if (!this.deps.token.matches(token)) {
      v.refusals++;
      this.deps.log(`dashboard: ${v.remote} ${req.op} refused: bad or missing admin token`);
      throw new ActionError(ActionCode.Forbidden, 'admin token missing or wrong');
    }
  }

  /** Peeks show job bodies: the read token or the admin token. Throws FORBIDDEN/DISABLED. */
  private authorizeRead(v: Viewer, token: unknown, req: ActionRequest): void {
    const { token: admin, readToken } = this.deps;
    if (!admin.enabled && !readToken.enabled)
      throw new ActionError(
        ActionCode.Disabled,
        'peeks show job bodies and need a token: start the proxy with --dashboard-read-token or --admin-token',
      );
    if (!readToken.matches(token) && !admin.matches(token)) {
      v.refusals++;
      this.deps.log(`dashboard: ${v.remote} ${req.op} refused: bad or missing token`);
      throw new ActionError(ActionCode.Forbidden, 'token missing or wrong');
    }
  }

  private actionContext(v: Viewer, id: number | string | null): ActionContext {
    return {
      ops: this.deps.ops,
      peekBodyBytes: this.deps.peekBodyBytes,
      // Progress is advisory: skipped while the viewer is behind.
      onClearProgress: (deleted, total) => {
        if (v.ws.bufferedAmount <= this.limits.softBufferBytes)
          this.send(v, { type: 'progress', id, deleted, total });
      },
      mover: this.deps.mover,
      // The move goes on when the viewer leaves (it is the cluster's, not the page's).
      onMoveProgress: ({ moved, total }) => {
        if (v.ws.readyState === WebSocket.OPEN && v.ws.bufferedAmount <= this.limits.softBufferBytes)
          this.send(v, { type: 'progress', id, moved, total });
      },
    };
  }
}
