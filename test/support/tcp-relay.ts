/**
 * A TCP relay on 127.0.0.1 port 0 that forwards to a target port until `cut()` — every connection
 * through it destroyed, new ones refused: a link that goes away — or `silence()` — connections stay
 * open and nothing is forwarded any more: a link that stops carrying packets. For one member of a
 * shard only (the others reach the target directly).
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
