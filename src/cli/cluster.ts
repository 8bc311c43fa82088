/**
 * `stalkd cluster`: a whole cluster on this machine — N node processes (each with its own binlog
 * under --data) and a proxy, described by one topology file that the proxy reads too. Prints where
 * everything listens; Ctrl-C / SIGTERM stops the proxy first, then the nodes (each drains, flushes
 * its log and exits), and exits once all are gone.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { DEFAULT_PORT } from '../net/limits';
import {
  loadTopologyFile,
  MAX_REPLICAS,
  memberAddress,
  shardMembers,
  type Topology,
  type TopologyMember,
  type TopologyNode,
} from '../proxy/topology';
import { reloadCluster } from './cluster-reload';
import { LISTENING_MESSAGE } from './lifecycle';
import { parseInteger, parsePort } from './options';

export interface ClusterCommandOptions {
  nodes: number;
  port: number;
  listen: string;
  data: string;
  topology?: string;
  metricsPort: number;
  fsyncMs?: number;
  /** false with -F / --no-fsync. */
  fsync: boolean;
  adminToken?: string;
  /** Standbys per node (0: no replication). */
  replicas: number;
}

/**
 * The topology `stalkd cluster` runs when no --topology is given (as cluster/examples/local-3.json,
 * and replicated-3.json with --replicas 2): node i on port+1+i; its standby r (1..R) on
 * port+1+N·r+i, metrics likewise, binlog in DIR/node-i-r<r>.
 */
export function localTopologyJson(opts: ClusterCommandOptions): object {
  const metrics = opts.metricsPort;
  const n = opts.nodes;
  const member = (i: number, r: number) => ({
    host: '127.0.0.1',
    port: opts.port + 1 + n * r + i,
    ...(metrics > 0 ? { metricsPort: metrics + 1 + n * r + i } : {}),
    dataDir: r === 0 ? `node-${i}` : `node-${i}-r${r}`,
  });
  const replicas = opts.replicas > 0 ? ` with ${opts.replicas} standby(s) each` : '';
  return {
    version: 1,
    description: `${n} local nodes${replicas} started by stalkd cluster`,
    nodes: Array.from({ length: n }, (_, i) => ({
      name: `node-${i}`,
      index: i,
      ...member(i, 0),
      weight: 1,
      ...(opts.replicas > 0
        ? { replicas: Array.from({ length: opts.replicas }, (_, r) => member(i, r + 1)) }
        : {}),
    })),
    proxy: { host: opts.listen, port: opts.port, ...(metrics > 0 ? { metricsPort: metrics } : {}) },
  };
}

export function registerClusterCommand(program: Command): Command {
  return program
    .command('cluster')
    .description('run a local cluster: N nodes with binlogs and a proxy in front of them')
    .addOption(new Option('--nodes <n>', 'number of nodes').argParser(parseInteger(1, 64)).default(3))
    .addOption(
      new Option('-p, --port <port>', 'proxy port; node i listens on port+1+i')
        .argParser(parsePort)
        .default(DEFAULT_PORT),
    )
    .addOption(new Option('-l, --listen <addr>', 'proxy listen address').default('127.0.0.1'))
    .addOption(new Option('--data <dir>', 'binlog root: node i logs to DIR/node-i').default('stalkd-data'))
    .addOption(new Option('--topology <file>', 'run this topology instead (nodes on this machine)'))
    .addOption(
      new Option('--metrics-port <port>', 'proxy metrics/dashboard port; node i uses port+1+i (0 = off)')
        .argParser(parsePort)
        .default(9300),
    )
    .addOption(
      new Option('-f, --fsync-ms <ms>', 'nodes fsync at most every MS ms').argParser(
        parseInteger(0, 3600000),
      ),
    )
    .addOption(new Option('-F, --no-fsync', 'nodes never fsync'))
    .addOption(new Option('--admin-token <token>', 'dashboard admin token').env('STALKD_ADMIN_TOKEN'))
    .addOption(
      new Option(
        '--replicas <r>',
        'standbys per node (2 = the HA layout; with 1, a promoted standby has none left and its writes wait)',
      )
        .argParser(parseInteger(0, MAX_REPLICAS))
        .default(0),
    )
    .action(async (opts: ClusterCommandOptions) => {
      await runCluster(opts);
    });
}

interface Member {
  label: string;
  args: string[];
  child: ChildProcess;
  /** Resolves true once the child announced that it listens, false if it exited first. */
  listening: Promise<boolean>;
}

/** Spawns `stalkd ARGS` with an IPC channel: children announce readiness and notice our exit. */
function spawnMember(label: string, args: string[], env: NodeJS.ProcessEnv = process.env): Member {
  const cli = path.join(__dirname, 'main.js');
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env,
  });
  const listening = new Promise<boolean>((resolve) => {
    child.on('message', (message) => {
      if (message === LISTENING_MESSAGE) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  return { label, args, child, listening };
}

function exited(m: Member): Promise<void> {
  return m.child.exitCode !== null || m.child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => m.child.once('exit', () => resolve()));
}

/**
 * The command line of one member of shard `n`: every member carries the shard's name and index
 * (ids name the shard); with replicas, the other members as --shard-peers, its own address as
 * --advertise, and --standby on all but the entry's own address (docs/replication.md).
 */
export function memberArgs(
  opts: Pick<ClusterCommandOptions, 'fsync' | 'fsyncMs'>,
  n: TopologyNode,
  m: TopologyMember,
  dir: string,
): string[] {
  const args = ['node', '-l', m.host, '-p', String(m.port), '-b', dir];
  args.push('--node-name', n.name, '--node-index', String(n.index));
  if (opts.fsyncMs !== undefined) args.push('-f', String(opts.fsyncMs));
  if (!opts.fsync) args.push('-F');
  if (m.metricsPort) args.push('--metrics-port', String(m.metricsPort));
  const members = shardMembers(n);
  if (members.length > 1) {
    const peers = members.filter((p) => p !== m).map(memberAddress);
    args.push('--shard-peers', peers.join(','), '--advertise', memberAddress(m));
    if (m !== n) args.push('--standby');
  }
  return args;
}

function proxyArgs(topology: Topology, topologyPath: string, opts: ClusterCommandOptions): string[] {
  const args = [
    'proxy',
    '-l',
    topology.proxy.host ?? opts.listen,
    '-p',
    String(topology.proxy.port ?? opts.port),
  ];
  // The cluster starts a node the file adds before it passes SIGHUP on: the proxy must not switch
  // to the file by itself first (it would route tubes to a node not running yet).
  args.push('--topology', topologyPath, '--no-topology-watch');
  if (topology.proxy.metricsPort) args.push('--metrics-port', String(topology.proxy.metricsPort));
  return args;
}

/**
 * Waits until every member listens. A member that exits first stops the cluster at once: its own
 * error is already on stderr (inherited), e.g. its port taken or its binlog locked by another node.
 */
async function awaitListening(members: Member[], stop: (code: number) => Promise<void>): Promise<boolean> {
  const failed = await new Promise<Member | undefined>((resolve) => {
    let left = members.length;
    for (const m of members) {
      void m.listening.then((ok) => {
        if (!ok) resolve(m);
        else if (--left === 0) resolve(undefined);
      });
    }
  });
  if (!failed) return true;
  const { exitCode, signalCode } = failed.child;
  process.stderr.write(
    `stalkd cluster: ${failed.label} exited (${exitCode ?? signalCode}) during start-up; stopping the cluster\n`,
  );
  await stop(1);
  return false;
}

/**
 * Before a replicated member that exited is started again: longer than the proxy's default
 * --failover-after-ms, so a killed primary comes back after its standby was promoted and follows
 * it (docs/failover.md) rather than racing the promotion.
 */
const RESTART_DELAY_MS = 5000;

export async function runCluster(opts: ClusterCommandOptions): Promise<void> {
  const dataRoot = path.resolve(opts.data);
  mkdirSync(dataRoot, { recursive: true });
  let topologyPath = opts.topology ? path.resolve(opts.topology) : path.join(dataRoot, 'topology.json');
  if (!opts.topology) writeFileSync(topologyPath, `${JSON.stringify(localTopologyJson(opts), null, 2)}\n`);
  const topology: Topology = loadTopologyFile(topologyPath);
  topologyPath = path.resolve(topologyPath);
  const replicated = topology.nodes.some((n) => (n.replicas?.length ?? 0) > 0);
  const spawnShard = (n: TopologyNode): Member[] =>
    shardMembers(n).map((m, r) => {
      const dir = path.join(dataRoot, memberDir(n, m, r));
      mkdirSync(dir, { recursive: true });
      return spawnMember(
        r === 0 ? n.name : `${n.name} standby ${memberAddress(m)}`,
        memberArgs(opts, n, m, dir),
      );
    });
  const shardsAtStart = topology.nodes.map((n) => ({ node: n, members: spawnShard(n) }));
  const nodeMembers = shardsAtStart.flatMap((s) => s.members);
  /** Members stopped on purpose (a node removed from the topology): their exit is no failure. */
  const retired = new Set<Member>();
  let proxy: Member | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Proxy first (clients stop arriving), then the nodes drain and flush their logs.
    if (proxy) {
      proxy.child.kill('SIGTERM');
      await exited(proxy);
    }
    for (const m of nodeMembers) m.child.kill('SIGTERM');
    await Promise.all(nodeMembers.map(exited));
    process.stdout.write('stalkd cluster: stopped\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // The proxy starts once every node listens, so its first probes find them all up.
  if (!(await awaitListening(nodeMembers, stop))) return;
  // The admin token travels in the environment, never on a command line that `ps` shows.
  const proxyEnv = opts.adminToken ? { ...process.env, STALKD_ADMIN_TOKEN: opts.adminToken } : process.env;
  proxy = spawnMember('proxy', proxyArgs(topology, topologyPath, opts), proxyEnv);
  if (!(await awaitListening([proxy], stop))) return;
  // A member of a replicated shard that exits is started again with its command (it rejoins as a
  // standby: docs/failover.md); anything else that exits stops the cluster.
  const watch = (m: Member, restart: boolean): void => {
    m.child.once('exit', (code, signal) => {
      if (stopping || retired.has(m)) return;
      if (!restart) {
        process.stderr.write(`stalkd cluster: ${m.label} exited (${code ?? signal}); stopping the cluster\n`);
        void stop(1);
        return;
      }
      process.stderr.write(
        `stalkd cluster: ${m.label} exited (${code ?? signal}); starting it again in ${RESTART_DELAY_MS / 1000} s\n`,
      );
      setTimeout(() => {
        if (stopping) return;
        const again = spawnMember(m.label, m.args);
        nodeMembers[nodeMembers.indexOf(m)] = again;
        watch(again, true);
      }, RESTART_DELAY_MS);
    });
  };
  for (const m of nodeMembers) watch(m, replicated);
  watch(proxy, false);
  const running = proxy;
  const shardOf = (node: TopologyNode, members: Member[]) => ({
    node,
    stop: async () => {
      for (const m of members) {
        retired.add(m);
        m.child.kill('SIGTERM');
      }
      await Promise.all(members.map(exited));
      for (const m of members) nodeMembers.splice(nodeMembers.indexOf(m), 1);
    },
  });
  const cluster = {
    topologyPath,
    shards: new Map(shardsAtStart.map((s) => [s.node.name, shardOf(s.node, s.members)])),
    start: async (node: TopologyNode) => {
      const members = spawnShard(node);
      nodeMembers.push(...members);
      const shard = shardOf(node, members);
      const ok = (await Promise.all(members.map((m) => m.listening))).every(Boolean);
      if (!ok)
        await shard.stop(); // its own error is on stderr; the cluster goes on without it
      else {
        cluster.shards.set(node.name, shard);
        for (const m of members) watch(m, replicated);
      }
      return ok;
    },
    reloadProxy: () => running.child.kill('SIGHUP'),
    log: (line: string) => process.stdout.write(`stalkd cluster: ${line}\n`),
  };
  // SIGHUP: the topology file again — new nodes started, removed empty ones stopped (one at a time).
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(() => reloadCluster(cluster));
  });
  process.stdout.write(`${startupLines(topology, topologyPath, dataRoot, opts).join('\n')}\n`);
}

/** A member's binlog directory under --data: its dataDir, else the shard's name (-r<r> for standby r). */
function memberDir(n: TopologyNode, m: TopologyMember, r: number): string {
  return m.dataDir ?? (r === 0 ? n.name : `${n.name}-r${r}`);
}

function startupLines(
  topology: Topology,
  topologyPath: string,
  dataRoot: string,
  opts: ClusterCommandOptions,
): string[] {
  const standbys = topology.nodes.reduce((sum, n) => sum + (n.replicas?.length ?? 0), 0);
  const shards = standbys > 0 ? ` with ${standbys} standbys` : '';
  const lines = [
    `stalkd cluster: ${topology.nodes.length} nodes${shards} + proxy (topology ${topologyPath})`,
  ];
  const proxyPort = topology.proxy.port ?? opts.port;
  lines.push(`  proxy    beanstalkd protocol on ${topology.proxy.host ?? opts.listen}:${proxyPort}`);
  if (topology.proxy.metricsPort) {
    const base = `http://127.0.0.1:${topology.proxy.metricsPort}`;
    lines.push(`           dashboard ${base}/   metrics ${base}/metrics`);
  }
  for (const n of topology.nodes) {
    const members = shardMembers(n);
    members.forEach((m, r) => {
      const metrics = m.metricsPort ? `   metrics http://127.0.0.1:${m.metricsPort}/metrics` : '';
      const role = members.length === 1 ? '' : r === 0 ? '   primary' : '   standby';
      const label = r === 0 ? n.name : '';
      lines.push(
        `  ${label.padEnd(8)} ${memberAddress(m)}   binlog ${path.join(dataRoot, memberDir(n, m, r))}${role}${metrics}`,
      );
    });
  }
  lines.push('Ctrl-C stops everything.');
  return lines;
}
