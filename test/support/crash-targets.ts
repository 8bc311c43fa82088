/**
 * What the crash harness kills: `stalkd node -b DIR <mode>` alone, or a local cluster — three such
 * nodes behind `stalkd proxy` (a topology file pins the 4 crash tubes so every node owns one) — of
 * which one node is killed per round. Every process is a child of the test, on 127.0.0.1; restarts
 * reuse the node's directory (and, behind the proxy, its port).
 */
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { connect } from '../../src/client';
import { decodeJobId, encodeJobId } from '../../src/proxy/job-id';
import { tempDir } from './binlog-fixtures';
import { type IdCodec, singleNodeIds } from './crash-ledger';
import { CRASH_TUBES } from './crash-traffic';
import { type Exit, type NodeProcess, startNode } from './node-process';
import { eventually, type StalkdProcess, startStalkd } from './processes';
import { type ReferenceServer, startReference } from './reference';

/** Small segments: rotation, compaction and unlinking run all the time. */
export const CRASH_SEGMENT_BYTES = 65536;

export interface CrashTarget {
  readonly label: string;
  readonly nodes: number;
  readonly codec: IdCodec;
  /**
   * The clients' connections may outlive a kill (a shard's standby was killed): the harness closes
   * them itself at the end of the round.
   */
  readonly survivesKill?: boolean;
  /** `release <id> <pri> 0` is not logged (beanstalkd): a restart may undo it. */
  readonly unloggedReleases?: boolean;
  /** Where clients connect (a node's port changes at each restart when it stands alone). */
  port(): number;
  nodeOfTube(tube: string): number;
  /** A tube owned by node, for the probe put after its restart. */
  probeTube(node: number): string;
  start(): Promise<void>;
  /** Sends SIGKILL at once; resolves with the exit. */
  kill(node: number): Promise<Exit>;
  /** Sends SIGTERM (drain, then a clean stop), without waiting. */
  terminate(node: number): void;
  /** Starts node again on its directory; resolves once clients reach it (through the proxy too). */
  restart(node: number): Promise<void>;
  /** Resolves once no job is reserved (the round's connections are closed; a proxy passes it on). */
  settle(): Promise<void>;
  /** SIGTERM everything; resolves with the exits that were not clean. */
  stop(): Promise<string[]>;
  /** Kills whatever still runs and removes the directories. */
  dispose(): Promise<void>;
}

function nodeArgs(mode: readonly string[], port: number): string[] {
  return [...mode, '-s', String(CRASH_SEGMENT_BYTES), ...(port > 0 ? ['-p', String(port)] : [])];
}

/** Resolves once the server at port holds no reserved job (the round's connections are gone). */
export async function untilNoneReserved(port: number): Promise<void> {
  const c = await connect({ host: '127.0.0.1', port });
  try {
    await eventually(
      'no job reserved',
      async () => (await c.stats())['current-jobs-reserved'] === 0,
      400,
      25,
    );
  } finally {
    await c.close();
  }
}

function uncleanExit(what: string, exit: Exit): string[] {
  return exit.code === 0 && exit.signal === null
    ? []
    : [`${what} exited ${exit.code ?? exit.signal}: ${exit.stderr}`];
}

/** `stalkd node -b DIR ...mode` alone. */
export function nodeTarget(mode: readonly string[]): CrashTarget {
  const dir = tempDir('stalkd-crash-');
  let node: NodeProcess | undefined;
  const current = (): NodeProcess => {
    if (!node) throw new Error('node not started');
    return node;
  };
  return {
    label: `stalkd node ${mode.join(' ')}`,
    nodes: 1,
    codec: singleNodeIds,
    port: () => current().port,
    nodeOfTube: () => 0,
    probeTube: () => CRASH_TUBES[0],
    async start() {
      node = await startNode(dir, nodeArgs(mode, 0));
    },
    kill: () => current().kill(),
    terminate: () => current().child.kill('SIGTERM'),
    async restart() {
      node = await startNode(dir, nodeArgs(mode, 0));
    },
    settle: async () => {},
    async stop() {
      return uncleanExit('stalkd node', await current().stop());
    },
    async dispose() {
      await node?.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's beanstalkd with `-b DIR ...mode`: the reference the harness must find clean (the bench
 * runs it side by side with stalkd).
 */
export function beanstalkdTarget(mode: readonly string[]): CrashTarget {
  const dir = tempDir('beanstalkd-crash-');
  let server: ReferenceServer | undefined;
  const current = (): ReferenceServer => {
    if (!server) throw new Error('beanstalkd not started');
    return server;
  };
  const exited = (s: ReferenceServer): Promise<Exit> =>
    s.process.exitCode !== null || s.process.signalCode !== null
      ? Promise.resolve({ code: s.process.exitCode, signal: s.process.signalCode, stderr: '' })
      : new Promise((resolve) =>
          s.process.once('exit', (code, signal) => resolve({ code, signal, stderr: '' })),
        );
  const start = async (): Promise<void> => {
    server = await startReference(['-b', dir, ...mode]);
  };
  return {
    label: `beanstalkd -b DIR ${mode.join(' ')}`,
    nodes: 1,
    unloggedReleases: true,
    codec: singleNodeIds,
    port: () => current().port,
    nodeOfTube: () => 0,
    probeTube: () => CRASH_TUBES[0],
    start,
    kill() {
      const s = current();
      s.process.kill('SIGKILL');
      return exited(s);
    },
    terminate: () => current().process.kill('SIGTERM'),
    restart: start,
    settle: async () => {},
    async stop() {
      await current().stop();
      return [];
    },
    async dispose() {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CLUSTER_NODES = 3;
/** crash0..crash2 on node-0..node-2, crash3 on node-0 (every node owns a tube). */
const pinnedNode = (tube: string): number =>
  CRASH_TUBES.indexOf(tube as (typeof CRASH_TUBES)[number]) % CLUSTER_NODES;

/** `stalkd proxy` in front of three `stalkd node -b DIR ...mode`; one node killed per round. */
export function clusterTarget(mode: readonly string[]): CrashTarget {
  const root = tempDir('stalkd-crash-cluster-');
  const dirs = Array.from({ length: CLUSTER_NODES }, (_, i) => path.join(root, `node-${i}`));
  const nodes: (NodeProcess | undefined)[] = [];
  const ports: number[] = [];
  let proxy: StalkdProcess | undefined;
  const codec: IdCodec = {
    split(id) {
      const d = decodeJobId(id);
      return d ? { node: d.nodeIndex, local: d.nodeId } : { node: -1, local: id };
    },
    join: (node, local) => encodeJobId(node, local) ?? 0,
  };
  const running = (node: number): NodeProcess => {
    const n = nodes[node];
    if (!n) throw new Error(`node ${node} not running`);
    return n;
  };
  const proxyPort = (): number => {
    if (!proxy) throw new Error('proxy not started');
    return proxy.port;
  };
  /** A command on the node's probe tube answers something else than INTERNAL_ERROR: the proxy uses it. */
  const reachable = async (node: number): Promise<boolean> => {
    const c = await connect({ host: '127.0.0.1', port: proxyPort() });
    try {
      return (await c.raw(`stats-tube ${CRASH_TUBES[node]}`)).line !== 'INTERNAL_ERROR';
    } finally {
      await c.close();
    }
  };
  return {
    label: `stalkd proxy + ${CLUSTER_NODES} × stalkd node ${mode.join(' ')}`,
    nodes: CLUSTER_NODES,
    codec,
    port: proxyPort,
    nodeOfTube: pinnedNode,
    probeTube: (node) => CRASH_TUBES[node] as string,
    async start() {
      for (let i = 0; i < CLUSTER_NODES; i++) {
        const n = await startNode(dirs[i] as string, nodeArgs(mode, 0));
        nodes[i] = n;
        ports[i] = n.port;
      }
      const topology = {
        version: 1,
        nodes: ports.map((port, index) => ({
          name: `node-${index}`,
          index,
          host: '127.0.0.1',
          port,
          weight: 1,
        })),
        pins: Object.fromEntries(CRASH_TUBES.map((t) => [t, `node-${pinnedNode(t)}`])),
      };
      const file = path.join(root, 'topology.json');
      writeFileSync(file, JSON.stringify(topology));
      proxy = await startStalkd(['proxy', '-l', '127.0.0.1', '-p', '0', '--topology', file]);
    },
    kill: (node) => running(node).kill(),
    terminate: (node) => running(node).child.kill('SIGTERM'),
    async restart(node) {
      nodes[node] = await startNode(dirs[node] as string, nodeArgs(mode, ports[node] as number));
      await eventually(`the proxy reaches node-${node} again`, () => reachable(node), 400, 25);
    },
    settle: () => untilNoneReserved(proxyPort()),
    async stop() {
      const problems: string[] = [];
      if (proxy && (await proxy.stop()) !== 0)
        problems.push(`stalkd proxy exited uncleanly: ${proxy.stderr()}`);
      for (const [i, n] of nodes.entries()) if (n) problems.push(...uncleanExit(`node-${i}`, await n.stop()));
      return problems;
    },
    async dispose() {
      await proxy?.kill();
      await Promise.all(nodes.map((n) => n?.kill()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
