/**
 * The stalkd node target for transcripts: the server in process on a fake clock, as beanstalkd 1.13
 * (the default) or with `--compat 1.12`, which plays the transcripts' 1.12 expectations.
 */
import { FakeClock } from '../../src/engine/clock';
import type { Dialect } from '../../src/protocol/dialect';
import { startNodeServer } from '../../src/server/node-server';
import type { TargetKind } from './transcript-targets';

/**
 * `listenOn` gives each case's listen address: 127.0.0.1 on a free port unless it returns a
 * `unix:PATH` (the name then says so).
 */
export function nodeKindFor(dialect: Dialect, listenOn?: () => string): TargetKind {
  const base = dialect === '1.13' ? 'node' : `node --compat ${dialect}`;
  const name = listenOn ? `${base} on a Unix socket` : base;
  return {
    name,
    version: dialect,
    fakeClock: true,
    singleServer: true,
    async start(args) {
      const clock = new FakeClock();
      const server = await startNodeServer({
        host: listenOn?.() ?? '127.0.0.1',
        port: 0,
        clock,
        maxJobBytes: maxJobBytesFrom(args),
        dialect,
      });
      return {
        name,
        version: dialect,
        fakeClock: true,
        host: server.host,
        port: server.port,
        advance: async (ms) => {
          // Let the server read whatever the transcript already wrote before time moves: one turn
          // of the event loop polls its sockets (loopback bytes are already in the kernel).
          await new Promise<void>((resolve) => setImmediate(resolve));
          await new Promise<void>((resolve) => setImmediate(resolve));
          clock.advance(ms);
          server.tick();
        },
        drain: async () => server.drain(),
        stop: () => server.close(),
      };
    },
  };
}

export const nodeKind = nodeKindFor('1.13');

/** The node target honours `-z BYTES` only; any other flag is a transcript it cannot play. */
function maxJobBytesFrom(args: readonly string[]): number {
  let maxJobBytes = 65535;
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1];
    if (args[i] !== '-z' || value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`node target: unsupported server args ${args.join(' ')}`);
    }
    maxJobBytes = Number(value);
  }
  return maxJobBytes;
}

/** The stalkd node on the real clock, for client tests that wait on real timers. */
export const nodeRealClockKind: TargetKind = {
  name: 'node',
  version: '1.13',
  fakeClock: false,
  singleServer: true,
  async start(args) {
    const server = await startNodeServer({ host: '127.0.0.1', port: 0, maxJobBytes: maxJobBytesFrom(args) });
    return {
      name: 'node',
      version: '1.13',
      fakeClock: false,
      host: '127.0.0.1',
      port: server.port,
      drain: async () => server.drain(),
      stop: () => server.close(),
    };
  },
};
