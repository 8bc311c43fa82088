/**
 * The dashboard's connection for peeks and admin actions, to the beanstalkd endpoint clients use
 * (the proxy's own client port), so job ids shown and accepted are the ones clients see. Operations
 * run one at a time, because `peek-*` and `kick` depend on the used tube; each has a deadline after
 * which the connection is dropped and the next operation opens a new one. Long operations (clear)
 * get a connection of their own via `dedicated`. The shared connection closes after `idleMs`
 * without operations: to the proxy it is a client watching `default` like any other, so it should
 * not linger in that tube's current-watching once nobody is clicking.
 */
import { Client, type ConnectOptions } from '../client';
import { LazyClient } from './lazy-client';

export interface OpsTarget {
  host: string;
  port: number;
  /** When the endpoint serves TLS (Client.connect's `tls`). */
  tls?: ConnectOptions['tls'];
}

function connectOptions(target: OpsTarget, timeoutMs: number): ConnectOptions {
  const options: ConnectOptions = { host: target.host, port: target.port, timeoutMs };
  if (target.tls) options.tls = target.tls;
  return options;
}

export class OpsTimeout extends Error {
  readonly code = 'ETIMEDOUT';
}

export class OpsChannel {
  private readonly conn = new LazyClient(() => Client.connect(connectOptions(this.target, this.timeoutMs)));
  private tail: Promise<unknown> = Promise.resolve();
  private readonly dedicatedClients = new Set<Client>();
  private idleTimer: NodeJS.Timeout | null = null;
  private queued = 0;

  constructor(
    private readonly target: OpsTarget,
    private readonly timeoutMs = 5000,
    private readonly idleMs = 10_000,
  ) {}

  /** Runs `fn` on the shared connection after every operation queued before it. */
  run<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    this.queued++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const result = this.tail.then(() => this.withDeadline(fn));
    this.tail = result
      .catch(() => undefined)
      .finally(() => {
        if (--this.queued === 0) this.armIdleTimer();
      });
    return result;
  }

  private armIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.conn.drop(), this.idleMs);
    this.idleTimer.unref();
  }

  /** Runs `fn` on a fresh connection, closed afterwards; no deadline (fn reports progress). */
  async dedicated<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = await Client.connect(connectOptions(this.target, this.timeoutMs));
    this.dedicatedClients.add(client);
    try {
      return await fn(client);
    } finally {
      this.dedicatedClients.delete(client);
      void client.close();
    }
  }

  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.conn.drop();
    for (const c of this.dedicatedClients) void c.close();
    this.dedicatedClients.clear();
  }

  private async withDeadline<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new OpsTimeout(`no answer from ${this.target.host}:${this.target.port} in ${this.timeoutMs} ms`),
          ),
        this.timeoutMs,
      );
    });
    try {
      const client = await Promise.race([this.conn.get(), deadline]);
      return await Promise.race([fn(client), deadline]);
    } catch (err) {
      // After a timeout or a connection failure the reply stream may be out of step: start over.
      this.conn.drop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
