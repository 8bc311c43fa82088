/**
 * Test harness for the proxy: N reference beanstalkd servers, a proxy in front of them, and a raw
 * line client that keeps replies in order (pipelining allowed).
 */
import { connect, type Socket } from 'node:net';
import { type Reply, ReplyParser } from '../../src/protocol/reply-parser';
import type { ShardAddress } from '../../src/proxy/node/node-pool';
import { type ProxyServer, type ProxyServerOptions, startProxyServer } from '../../src/proxy/server';
import { startNodeServer } from '../../src/server/node-server';
import { startReference } from './reference';

export class RawClient {
  private readonly replies: Reply[] = [];
  private readonly waiters: Array<(r: Reply | null) => void> = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    const reader = new ReplyParser((r) => this.onReply(r));
    socket.on('data', (c: Buffer) => {
      try {
        reader.push(c);
      } catch {
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
    socket.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private onReply(r: Reply): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.replies.push(r);
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Next reply; null if the connection closed. */
  next(timeoutMs = 10000): Promise<Reply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply in time')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }

  /** Sends one command (and body) and returns its reply (its data in `.body`). */
  async cmd(line: string, body?: string | Buffer, timeoutMs?: number): Promise<Reply> {
    this.write(
      body === undefined
        ? `${line}\r\n`
        : Buffer.concat([Buffer.from(`${line}\r\n`), Buffer.from(body), Buffer.from('\r\n')]),
    );
    const r = await this.next(timeoutMs);
    if (!r) throw new Error(`connection closed after "${line}"`);
    return r;
  }

  async put(body: string, pri = 0, delay = 0, ttr = 60): Promise<number> {
    const r = await this.cmd(`put ${pri} ${delay} ${ttr} ${Buffer.byteLength(body)}`, body);
    const m = /^INSERTED (\d+)$/.exec(r.line);
    if (!m) throw new Error(`put failed: ${r.line}`);
    return Number(m[1]);
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ClusterNode {
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface ProxyCluster {
  nodes: ClusterNode[];
  proxy: ProxyServer;
  stop(): Promise<void>;
}

/** Starts `count` reference beanstalkd nodes and a proxy in front of them. */
export async function startStockCluster(
  count = 3,
  extra: Partial<ProxyServerOptions> = {},
  nodeArgs: string[] = [],
): Promise<ProxyCluster> {
  const nodes = await Promise.all(Array.from({ length: count }, () => startReference(nodeArgs)));
  const proxy = await startProxyServer({
    port: 0,
    nodes: nodes.map((n, index) => ({ index, name: `node-${index}`, host: n.host, port: n.port })),
    pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
    ...extra,
  });
  return {
    nodes,
    proxy,
    stop: async () => {
      await proxy.close();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Starts `count` in-process stalkd nodes (real clock) and a proxy in front of them. */
export async function startStalkdCluster(
  count = 3,
  extra: Partial<ProxyServerOptions> = {},
): Promise<ProxyCluster> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => startNodeServer({ host: '127.0.0.1', port: 0 })),
  );
  const nodes: ClusterNode[] = servers.map((s) => ({
    host: '127.0.0.1',
    port: s.port,
    stop: () => s.close(),
  }));
  const proxy = await startProxyServer({
    port: 0,
    nodes: nodes.map((n, index) => ({ index, name: `node-${index}`, host: n.host, port: n.port })),
    pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
    ...extra,
  });
  return {
    nodes,
    proxy,
    stop: async () => {
      await proxy.close();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

export type ClusterKind = 'stock' | 'stalkd';

export function startCluster(
  kind: ClusterKind,
  extra: Partial<ProxyServerOptions> = {},
): Promise<ProxyCluster> {
  return kind === 'stock' ? startStockCluster(3, extra) : startStalkdCluster(3, extra);
}

/** Tube names owned by each node index: `names[i]` are `count` tubes placed on node i. */
export function tubesPerNode(proxy: ProxyServer, nodeCount: number, count: number, prefix = 't'): string[][] {
  const out: string[][] = Array.from({ length: nodeCount }, () => []);
  for (let i = 0; out.some((l) => l.length < count); i++) {
    const tube = `${prefix}${i}`;
    const list = out[proxy.placement.ownerOf(tube).index];
    if (list && list.length < count) list.push(tube);
  }
  return out;
}

/** Shard `index` (named s<index>) on 127.0.0.1: its primary's port first, then its standbys'. */
export function localShard(index: number, primaryPort: number, ...standbyPorts: number[]): ShardAddress {
  return {
    index,
    name: `s${index}`,
    host: '127.0.0.1',
    port: primaryPort,
    replicas: standbyPorts.map((port) => ({ host: '127.0.0.1', port })),
  };
}
