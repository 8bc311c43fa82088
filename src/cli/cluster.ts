/**
 * `stalkd cluster`: a whole cluster on this machine — N node processes (each with its own binlog
 * under --data) and a proxy, described by one topology file that the proxy reads too. Prints where
 * everything listens; Ctrl-C / SIGTERM stops the proxy first, then the nodes (each drains, flushes
 * its log and exits), and exits once all are gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { loadTopologyFile, type Topology } from '../proxy/topology';
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
        .default(11300),
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
}

export async function runCluster(opts: ClusterCommandOptions): Promise<void> {
  const dataRoot = path.resolve(opts.data);
  mkdirSync(dataRoot, { recursive: true });
  let topologyPath = opts.topology ? path.resolve(opts.topology) : path.join(dataRoot, 'topology.json');
  if (!opts.topology) writeFileSync(topologyPath, `${JSON.stringify(localTopologyJson(opts), null, 2)}\n`);
  const topology: Topology = loadTopologyFile(topologyPath);
  topologyPath = path.resolve(topologyPath);
  const cli = path.join(__dirname, 'main.js');
  const members: Member[] = [];
  const start = (label: string, args: string[], env: NodeJS.ProcessEnv = process.env): Member => {
    // The IPC channel lets children notice when the launcher is gone, however it ended.
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
    });
    const member = { label, child };
    members.push(member);
    return member;
  };
  const exited = (m: Member): Promise<void> =>
    m.child.exitCode !== null || m.child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => m.child.once('exit', () => resolve()));

  const nodeMembers = topology.nodes.map((n) => {
    const dir = path.join(dataRoot, n.dataDir ?? n.name);
    mkdirSync(dir, { recursive: true });
    const args = ['node', '-l', n.host, '-p', String(n.port), '-b', dir];
    if (opts.fsyncMs !== undefined) args.push('-f', String(opts.fsyncMs));
    if (!opts.fsync) args.push('-F');
    if (n.metricsPort) args.push('--metrics-port', String(n.metricsPort));
    return start(n.name, args);
  });
  // The proxy starts once every node accepts, so its first probes find them all up.
  for (const n of topology.nodes) {
    if (!(await waitForPort(n.host === '0.0.0.0' ? '127.0.0.1' : n.host, n.port, () => false))) {
      process.stderr.write(`stalkd cluster: ${n.name} did not open ${n.host}:${n.port} in time\n`);
      for (const m of nodeMembers) m.child.kill('SIGTERM');
      await Promise.all(nodeMembers.map(exited));
      process.exit(1);
    }
  }
  const proxyPort = topology.proxy.port ?? opts.port;
  const proxyArgs = [
    'proxy',
    '-l',
    topology.proxy.host ?? opts.listen,
    '-p',
    String(proxyPort),
    '--topology',
    topologyPath,
  ];
  if (topology.proxy.metricsPort) proxyArgs.push('--metrics-port', String(topology.proxy.metricsPort));
  // The admin token travels in the environment, never on a command line that `ps` shows.
  const proxyEnv = opts.adminToken ? { ...process.env, STALKD_ADMIN_TOKEN: opts.adminToken } : process.env;
  const proxy = start('proxy', proxyArgs, proxyEnv);

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Proxy first (clients stop arriving), then the nodes drain and flush their logs.
    proxy.child.kill('SIGTERM');
    await exited(proxy);
    for (const m of nodeMembers) m.child.kill('SIGTERM');
    await Promise.all(nodeMembers.map(exited));
    process.stdout.write('stalkd cluster: stopped\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  for (const m of members) {
    m.child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`stalkd cluster: ${m.label} exited (${code ?? signal}); stopping the cluster\n`);
      void stop(1);
    });
  }

  const proxyHost = topology.proxy.host ?? opts.listen;
  if (!(await waitForPort(proxyHost === '0.0.0.0' ? '127.0.0.1' : proxyHost, proxyPort, () => stopping))) {
    if (!stopping) {
      process.stderr.write(`stalkd cluster: the proxy did not open ${proxyHost}:${proxyPort} in time\n`);
      await stop(1);
    }
    return;
  }
  const lines = [`stalkd cluster: ${topology.nodes.length} nodes + proxy (topology ${topologyPath})`];
  lines.push(`  proxy    beanstalkd protocol on ${topology.proxy.host ?? opts.listen}:${proxyPort}`);
  if (topology.proxy.metricsPort) {
    const base = `http://127.0.0.1:${topology.proxy.metricsPort}`;
    lines.push(`           dashboard ${base}/   metrics ${base}/metrics`);
  }
  for (const n of topology.nodes) {
    const metrics = n.metricsPort ? `   metrics http://127.0.0.1:${n.metricsPort}/metrics` : '';
    lines.push(
      `  ${n.name.padEnd(8)} ${n.host}:${n.port}   binlog ${path.join(dataRoot, n.dataDir ?? n.name)}${metrics}`,
    );
  }
  lines.push('Ctrl-C stops everything.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Connects until host:port accepts (every 50 ms, at most 30 s) or `cancelled()`; true when it did. */
async function waitForPort(host: string, port: number, cancelled: () => boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 600 && !cancelled(); attempt++) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
