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
import { endpointText } from '../net/endpoint';
import { DEFAULT_PORT } from '../net/limits';
import { loadTopologyFile, type Topology, type TopologyNode } from '../proxy/topology';
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
}

/** The topology `stalkd cluster` runs when no --topology is given (as cluster/examples/local-3.json). */
export function localTopologyJson(opts: ClusterCommandOptions): object {
  const metrics = opts.metricsPort;
  return {
    version: 1,
    description: `${opts.nodes} local nodes started by stalkd cluster`,
    nodes: Array.from({ length: opts.nodes }, (_, i) => ({
      name: `node-${i}`,
      index: i,
      host: '127.0.0.1',
      port: opts.port + 1 + i,
      weight: 1,
      ...(metrics > 0 ? { metricsPort: metrics + 1 + i } : {}),
      dataDir: `node-${i}`,
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
    .action(async (opts: ClusterCommandOptions) => {
      await runCluster(opts);
    });
}

interface Member {
  label: string;
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
  return { label, child, listening };
}

function exited(m: Member): Promise<void> {
  return m.child.exitCode !== null || m.child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => m.child.once('exit', () => resolve()));
}

function nodeArgs(opts: ClusterCommandOptions, n: TopologyNode, dir: string): string[] {
  const args = ['node', '-l', n.host, '-p', String(n.port), '-b', dir];
  args.push('--node-name', n.name, '--node-index', String(n.index));
  if (opts.fsyncMs !== undefined) args.push('-f', String(opts.fsyncMs));
  if (!opts.fsync) args.push('-F');
  if (n.metricsPort) args.push('--metrics-port', String(n.metricsPort));
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
  args.push('--topology', topologyPath);
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

export async function runCluster(opts: ClusterCommandOptions): Promise<void> {
  const dataRoot = path.resolve(opts.data);
  mkdirSync(dataRoot, { recursive: true });
  let topologyPath = opts.topology ? path.resolve(opts.topology) : path.join(dataRoot, 'topology.json');
  if (!opts.topology) writeFileSync(topologyPath, `${JSON.stringify(localTopologyJson(opts), null, 2)}\n`);
  const topology: Topology = loadTopologyFile(topologyPath);
  topologyPath = path.resolve(topologyPath);
  const nodeMembers = topology.nodes.map((n) => {
    const dir = path.join(dataRoot, n.dataDir ?? n.name);
    mkdirSync(dir, { recursive: true });
    return spawnMember(n.name, nodeArgs(opts, n, dir));
  });
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
  for (const m of [...nodeMembers, proxy]) {
    m.child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`stalkd cluster: ${m.label} exited (${code ?? signal}); stopping the cluster\n`);
      void stop(1);
    });
  }
  process.stdout.write(`${startupLines(topology, topologyPath, dataRoot, opts).join('\n')}\n`);
}

function startupLines(
  topology: Topology,
  topologyPath: string,
  dataRoot: string,
  opts: ClusterCommandOptions,
): string[] {
  const lines = [`stalkd cluster: ${topology.nodes.length} nodes + proxy (topology ${topologyPath})`];
  const proxyPort = topology.proxy.port ?? opts.port;
  lines.push(`  proxy    beanstalkd protocol on ${topology.proxy.host ?? opts.listen}:${proxyPort}`);
  if (topology.proxy.metricsPort) {
    const base = `http://127.0.0.1:${topology.proxy.metricsPort}`;
    lines.push(`           dashboard ${base}/   metrics ${base}/metrics`);
  }
  for (const n of topology.nodes) {
    const metrics = n.metricsPort ? `   metrics http://127.0.0.1:${n.metricsPort}/metrics` : '';
    lines.push(
      `  ${n.name.padEnd(8)} ${endpointText(n.host, n.port)}   binlog ${path.join(dataRoot, n.dataDir ?? n.name)}${metrics}`,
    );
  }
  lines.push('Ctrl-C stops everything.');
  return lines;
}
