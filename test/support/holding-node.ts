/**
 * A stand-in node for proxy tests of in-flight bounds: speaks just enough of the protocol (probes,
 * use/watch/ignore, put) and holds every put's reply until `batch` puts are outstanding on that
 * connection, then answers them all in order. A proxy that keeps at most `batch` requests in
 * flight per node connection makes steady progress; `maxHeld` shows the most it ever had out.
 * `batch` can be raised to Infinity (hold everything) and `release()` answers what is held.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface HoldingNode {
  port: number;
  /** Most puts ever outstanding on one connection. */
  maxHeld: number;
  /** Puts answered so far. */
  answered: number;
  /** Puts held right now (all connections). */
  held: number;
  batch: number;
  /** Answers everything held now. */
  release(): void;
  close(): Promise<void>;
}

export async function startHoldingNode(batch: number): Promise<HoldingNode> {
  let nextId = 1;
  const flushers = new Set<() => void>();
  const state: HoldingNode = {
    port: 0,
    maxHeld: 0,
    answered: 0,
    held: 0,
    batch,
    release: () => {
      for (const flush of flushers) flush();
    },
    close: async () => {},
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let watched = 1;
    let held = 0;
    const queued: string[] = [];
    const flush = (): void => {
      state.answered += held;
      state.held -= held;
      held = 0;
      if (queued.length > 0) socket.write(queued.splice(0).join(''));
    };
    flushers.add(flush);
    socket.on('close', () => flushers.delete(flush));
    const answer = (reply: string, isPut: boolean): void => {
      queued.push(reply);
      if (isPut) {
        held++;
        state.held++;
      }
      state.maxHeld = Math.max(state.maxHeld, held);
      if (held === 0 || held >= state.batch) flush();
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.toString('latin1', 0, eol);
        const words = line.split(' ');
        if (words[0] === 'put') {
          const end = eol + 2 + Number(words[4]) + 2;
          if (buf.length < end) return;
          buf = buf.subarray(end);
          answer(`INSERTED ${nextId++}\r\n`, true);
          continue;
        }
        buf = buf.subarray(eol + 2);
        if (words[0] === 'use') answer(`USING ${words[1]}\r\n`, false);
        else if (words[0] === 'watch') answer(`WATCHING ${++watched}\r\n`, false);
        else if (words[0] === 'ignore') answer(`WATCHING ${Math.max(1, --watched)}\r\n`, false);
        else answer('UNKNOWN_COMMAND\r\n', false);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as { port: number }).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
