/**
 * Transcript targets made of a proxy in front of 3 servers: stalkd nodes (in process, one shared
 * fake clock) or Debian's beanstalkd (real time). Tubes named in a case can be pinned so that they
 * land on different nodes (`spreadPins`). The proxy speaks the target's version (`--compat`)
 * whatever its nodes run: stalkd nodes are always 1.13.
 */
import { join } from 'node:path';
import { FakeClock } from '../../src/engine/clock';
import { startProxyServer } from '../../src/proxy/server';
import { startNodeServer } from '../../src/server/node-server';
import { referenceVersion, startReference } from './reference';
import type { TranscriptCase } from './transcript';
import type { Target } from './transcript-targets';

export type ProxyBackendKind = 'stalkd' | 'reference';

const NODE_COUNT = 3;
const TUBE_ARG =
  /(?:^|\s)(?:use|watch|ignore|stats-tube|pause-tube)\s+([A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]*)/g;

/** Pins the tubes a case names round-robin onto the nodes, `default` on node 0, the rest from 1. */
export function spreadPins(c: TranscriptCase): Record<string, string> {
  const pins: Record<string, string> = { default: 'node-0' };
  let next = 1;
  for (const step of c.steps) {
    if (step.kind !== 'send') continue;
    for (const m of step.text.matchAll(TUBE_ARG)) {
      const tube = m[1] as string;
      if (tube in pins) continue;
      pins[tube] = `node-${next % NODE_COUNT}`;
      next++;
    }
  }
  return pins;
}

function maxJobBytesFrom(args: readonly string[]): number {
  let maxJobBytes = 65535;
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1];
    if (args[i] !== '-z' || value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`proxy target: unsupported server args ${args.join(' ')}`);
    }
    maxJobBytes = Number(value);
  }
  return maxJobBytes;
}

interface Started {
  nodes: Array<{ host: string; port: number }>;
  advance?: (ms: number) => Promise<void>;
  drainNodes: () => Promise<void>;
  stopNodes: () => Promise<void>;
}

/** Node i's listen address: 127.0.0.1 on a free port, or `unix:DIR/node-i.sock`. */
function nodeHost(i: number, socketDir: string | undefined): string {
  return socketDir === undefined ? '127.0.0.1' : `unix:${join(socketDir, `node-${i}.sock`)}`;
}

async function startStalkdNodes(
  maxJobBytes: number,
  fakeClock: boolean,
  socketDir?: string,
): Promise<Started> {
  const clock = new FakeClock();
  const servers = await Promise.all(
    Array.from({ length: NODE_COUNT }, (_, i) =>
      startNodeServer({
        host: nodeHost(i, socketDir),
        port: 0,
        maxJobBytes,
        ...(fakeClock ? { clock } : {}),
      }),
    ),
  );
  const started: Started = {
    nodes: servers.map((s) => ({ host: s.host, port: s.port })),
    drainNodes: async () => {
      for (const s of servers) s.drain();
    },
    stopNodes: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
  if (fakeClock) {
    started.advance = async (ms) => {
      // A few turns of the loop: the proxy forwards what the transcript wrote, the nodes read it.
      for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      clock.advance(ms);
      for (const s of servers) s.tick();
    };
  }
  return started;
}

async function startReferenceNodes(args: readonly string[], socketDir?: string): Promise<Started> {
  const servers = await Promise.all(
    Array.from({ length: NODE_COUNT }, (_, i) =>
      startReference([...args], socketDir === undefined ? undefined : join(socketDir, `node-${i}.sock`)),
    ),
  );
  return {
    nodes: servers.map((s) => ({ host: s.host, port: s.port })),
    drainNodes: async () => {
      for (const s of servers) process.kill(s.pid, 'SIGUSR1');
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
    stopNodes: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

export async function startProxyTarget(
  kind: ProxyBackendKind,
  version: '1.12' | '1.13',
  args: readonly string[],
  pins: Record<string, string>,
  fakeClock = kind === 'stalkd',
  socketDir?: string,
): Promise<Target> {
  const maxJobBytes = maxJobBytesFrom(args);
  const started =
    kind === 'stalkd'
      ? await startStalkdNodes(maxJobBytes, fakeClock, socketDir)
      : await startReferenceNodes(args, socketDir);
  const proxy = await startProxyServer({
    host: socketDir === undefined ? '127.0.0.1' : `unix:${join(socketDir, 'proxy.sock')}`,
    port: 0,
    nodes: started.nodes.map((n, index) => ({ index, name: `node-${index}`, ...n })),
    pins,
    maxJobBytes,
    dialect: version,
    pool: { nodeTimeoutMs: 2000, probeIntervalMs: 1000, backoffMinMs: 50, backoffMaxMs: 400 },
  });
  const over = socketDir === undefined ? kind : `${kind} on Unix sockets`;
  const name = `proxy${version === '1.13' ? '' : ` --compat ${version}`} over 3 ${over}`;
  const target: Target = {
    name,
    version,
    fakeClock: started.advance !== undefined,
    host: proxy.host,
    port: proxy.port,
    drain: async () => {
      proxy.counters.draining = true;
      await started.drainNodes();
    },
    stop: async () => {
      await proxy.close();
      await started.stopNodes();
    },
  };
  if (started.advance) target.advance = started.advance;
  return target;
}

/** Shaped as client-targets.ts ClientTarget (kept structural to avoid importing test wiring). */
export interface ProxyClientTarget {
  name: string;
  version: '1.12' | '1.13';
  singleServer: boolean;
  start(args: readonly string[]): Promise<Target>;
}

/**
 * Client-test targets: the proxy in front of 3 stalkd nodes (real clock) and in front of 3
 * beanstalkd servers, tubes placed by the ring (no pins).
 */
export function proxyClientTargets(): ProxyClientTarget[] {
  const targets: ProxyClientTarget[] = [
    {
      name: 'proxy over 3 stalkd',
      version: '1.13',
      singleServer: false,
      start: (args) => startProxyTarget('stalkd', '1.13', args, {}, false),
    },
  ];
  const refVersion = referenceVersion();
  if (refVersion) {
    const version = refVersion === '1.12' ? '1.12' : '1.13';
    targets.push({
      name: 'proxy over 3 reference',
      version,
      singleServer: false,
      start: (args) => startProxyTarget('reference', version, args, {}),
    });
  }
  return targets;
}
