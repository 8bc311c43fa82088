/**
 * Servers a transcript can be played against. A `TargetKind` starts a fresh `Target` per case;
 * a target is just an address plus the few controls transcripts need (fake clock, drain).
 */
import { connect } from 'node:net';
import { startReference } from './reference';
import type { Version } from './transcript';

export interface Target {
  readonly name: string;
  readonly version: Version;
  readonly fakeClock: boolean;
  readonly host: string;
  readonly port: number;
  /** Moves the fake clock forward and runs due timers (fake-clock targets only). */
  advance?(ms: number): Promise<void>;
  /** Enters drain mode; resolves once the server reports `draining: true`. */
  drain?(): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetKind {
  readonly name: string;
  readonly version: Version;
  readonly fakeClock: boolean;
  /** False for targets made of several servers (the proxy): absolute ids mean nothing there. */
  readonly singleServer: boolean;
  /** `args` are beanstalkd flags from the transcript's @args. */
  start(args: readonly string[]): Promise<Target>;
}

/** Debian's beanstalkd: real time only; drain by SIGUSR1. */
export function referenceKind(versionText: string): TargetKind {
  const version: Version = versionText === '1.12' ? '1.12' : '1.13';
  const name = `reference ${versionText}`;
  return {
    name,
    version,
    fakeClock: false,
    singleServer: true,
    async start(args) {
      const server = await startReference([...args]);
      return {
        name,
        version,
        fakeClock: false,
        host: server.host,
        port: server.port,
        drain: async () => {
          process.kill(server.pid, 'SIGUSR1');
          await waitForDraining(server.host, server.port);
        },
        stop: () => server.stop(),
      };
    },
  };
}

/**
 * SIGUSR1 is asynchronous: poll `stats` on one private connection until it says
 * `draining: true`, a bounded number of times (each poll is a full round trip, no sleeping).
 */
function waitForDraining(host: string, port: number, attempts = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let pending = '';
    let left = attempts;
    const finish = (err?: Error): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.on('error', finish);
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      const m = /^OK (\d+)\r\n/.exec(pending);
      if (!m) return;
      const end = m[0].length + Number(m[1]) + 2;
      if (pending.length < end) return;
      const body = pending.slice(m[0].length, end);
      pending = pending.slice(end);
      if (body.includes('\ndraining: true\n')) return finish();
      if (--left <= 0) return finish(new Error(`server did not report draining after ${attempts} polls`));
      socket.write('stats\r\n');
    });
    socket.write('stats\r\n');
  });
}
