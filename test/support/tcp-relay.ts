/**
 * A TCP relay on 127.0.0.1 port 0 that forwards to a target port until `cut()`: then every
 * connection through it is destroyed and new ones are refused — a network link that goes away,
 * for one member of a shard only (the others reach the target directly).
 */
import { once } from 'node:events';
import net from 'node:net';

export interface Relay {
  port: number;
  /** Destroys every relayed connection and stops accepting new ones. */
  cut(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    track(inbound);
    track(outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
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
  };
}
