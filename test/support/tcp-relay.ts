/**
 * A TCP relay on 127.0.0.1 port 0 that forwards to a target port until `cut()` — every connection
 * through it destroyed, new ones refused: a link that goes away — or `silence()` — connections stay
 * open and nothing is forwarded any more: a link that stops carrying packets. For one member of a
 * shard only (the others reach the target directly). TcpRelay below can also `restore()`.
 */
import { once } from 'node:events';
import net from 'node:net';

export interface Relay {
  port: number;
  /** Destroys every relayed connection and stops accepting new ones. */
  cut(): Promise<void>;
  /** Stops forwarding (bytes are dropped both ways) while every connection stays open: a silent link. */
  silence(): void;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  let forwarding = true;
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    track(inbound);
    track(outbound);
    inbound.on('data', (chunk: Buffer) => {
      if (forwarding) outbound.write(chunk);
    });
    outbound.on('data', (chunk: Buffer) => {
      if (forwarding) inbound.write(chunk);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    silence() {
      forwarding = false;
    },
  };
}

/**
 * A relay that keeps its connections but stops forwarding (`cut()`): a network that drops packets
 * rather than one that resets — the peers see silence, not an error — and accepts new connections
 * that go nowhere; `restore()` forwards again, on new connections (connections alive across the
 * cut are closed at restore, their dropped bytes gone as a partition loses them).
 */
export class TcpRelay {
  private cutOff = false;
  private readonly pairs = new Set<[net.Socket, net.Socket | null]>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, host = '127.0.0.1'): Promise<TcpRelay> {
    const server = net.createServer();
    server.listen(0, host);
    await once(server, 'listening');
    const relay = new TcpRelay(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => relay.accept(client, targetPort, host));
    return relay;
  }

  get isCut(): boolean {
    return this.cutOff;
  }

  cut(): void {
    this.cutOff = true;
  }

  restore(): void {
    this.cutOff = false;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.restore();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket, targetPort: number, host: string): void {
    client.on('error', () => {});
    if (this.cutOff) {
      const pair: [net.Socket, net.Socket | null] = [client, null];
      this.pairs.add(pair);
      client.on('data', () => {}); // swallowed
      client.on('close', () => this.pairs.delete(pair));
      return;
    }
    const upstream = net.connect(targetPort, host);
    upstream.on('error', () => client.destroy());
    const pair: [net.Socket, net.Socket | null] = [client, upstream];
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (!this.cutOff) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!this.cutOff) client.write(chunk);
    });
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }
}
