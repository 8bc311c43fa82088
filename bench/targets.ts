/**
 * The servers under test, each started fresh on an ephemeral loopback port: Debian's beanstalkd,
 * `stalkd node` (the CLI, as users run it), `stalkd proxy` in front of three stalkd nodes, the
 * generator's do-nothing server (its ceiling), and beanstalkd behind a byte-copying relay (the
 * floor of a proxy hop). A target is ready when its port answers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Generator, prepareRelay, TMP_DIR } from './loadgen';
import { startReplicated } from './replication';

export const TARGET_NAMES = [
  'beanstalkd',
  'node',
  'proxy',
  'null',
  'node-null',
  'node-onread',
  'beanstalkd-b',
  'node-b',
  'cluster',
  'node-r',
  'relay-c',
  'relay-node',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/**
 * The targets as users deploy them: always with a binlog (`-b DIR`) at each server's own default
 * fsync policy (beanstalkd and stalkd both default to `-f 50`). `cluster` is the proxy in front of
 * three such nodes.
 */
export const LOGGED_TARGETS: readonly TargetName[] = ['beanstalkd-b', 'node-b', 'cluster'];
/** Issue 16: `node-b` with one synchronous standby (bench/replication.ts). */
export const REPLICATED_TARGETS: readonly TargetName[] = ['node-r'];
/**
 * The proxy hop floor: `beanstalkd-b` behind a relay that only copies bytes (bench/relay.c,
 * bench/relay-server.ts), so the cost of one more process on the path can be set beside the cluster's.
 */
export const HOP_TARGETS: readonly TargetName[] = ['relay-c', 'relay-node'];

/** Targets whose servers write a binlog (a directory each) in every scenario. */
export function isLogged(name: TargetName): boolean {
  return LOGGED_TARGETS.includes(name) || REPLICATED_TARGETS.includes(name) || HOP_TARGETS.includes(name);
}

export interface BinlogConfig {
  dir: string;
  /** -f MS; 'never' = -F; 'default' = no flag (the server's own default). */
  fsync: number | 'never' | 'default';
}

export interface TargetConfig {
  maxJobBytes: number;
  /** One directory per server process (the proxy's three nodes get dir/n0, n1, n2). */
  binlog?: BinlogConfig;
  /** Extra node flags for stalkd processes (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Ask stalkd processes for a metrics port (when the CLI supports it). */
  metrics?: boolean;
  /**
   * A command the stalkd process of `role` ('node', 'proxy', 'node 0' …) runs under (valgrind …),
   * or none: `node` runs directly.
   */
  wrap?: (role: string) => string[];
}

export interface RunningTarget {
  name: TargetName;
  host: string;
  port: number;
  /** Every server-side process (for CPU and RSS). */
  pids: number[];
  /** What each of `pids` is, where a target has more than one kind ('relay', 'beanstalkd'). */
  roles?: string[];
  /** performance.now() when the first process was spawned. */
  spawnedAtMs: number;
  metricsUrl?: string;
  /** SIGTERM (stalkd writes its --cpu-prof then) or SIGKILL (a crash, for replay). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

const HOST = '127.0.0.1';
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The compiled stalkd under test: dist/src, or the private copy made by snapshotBuild(). */
let stalkdRoot = path.resolve(__dirname, '..', 'src');
const stalkdCli = (): string => path.join(stalkdRoot, 'cli', 'main.js');

/**
 * Copies dist/src into `dir` and runs every stalkd process from there, so a rebuild during a long
 * run (others working in the same tree) cannot change, or half-replace, the code being measured.
 * Modules still resolve from the project's node_modules (dir lies inside the project).
 */
export function snapshotBuild(dir: string): void {
  // Copies left by runs that were killed (their pid is gone) would otherwise pile up.
  for (const name of readdirSync(path.dirname(dir))) {
    const pid = Number(/^build-(\d+)$/.exec(name)?.[1] ?? 0);
    if (pid > 0 && pid !== process.pid && !isAlive(pid))
      rmSync(path.join(path.dirname(dir), name), { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  cpSync(stalkdRoot, path.join(dir, 'src'), { recursive: true });
  stalkdRoot = path.join(dir, 'src');
  nodeHelp = undefined;
}
export const PROXY_NODES = 3;

export const BEANSTALKD_PATH = [
  '/usr/bin/beanstalkd',
  '/usr/sbin/beanstalkd',
  '/usr/local/bin/beanstalkd',
].find((p) => existsSync(p));

let nodeHelp: string | undefined;
/** `stalkd node --help`, to learn which optional flags (binlog, metrics) exist in this build. */
function stalkdNodeHelp(): string {
  nodeHelp ??=
    spawnSync(process.execPath, [stalkdCli(), 'node', '--help'], { encoding: 'utf8' }).stdout ?? '';
  return nodeHelp;
}

export function stalkdSupportsBinlog(): boolean {
  return /-b, --binlog-dir|-b </.test(stalkdNodeHelp());
}

export function stalkdSupportsMetrics(): boolean {
  return /--metrics-port/.test(stalkdNodeHelp());
}

/** Why a target cannot run a config, or undefined when it can. */
export function unsupported(name: TargetName, config: TargetConfig): string | undefined {
  if (name === 'beanstalkd' && !BEANSTALKD_PATH) return 'beanstalkd is not installed';
  if (name === 'beanstalkd-b' && !BEANSTALKD_PATH) return 'beanstalkd is not installed';
  if (HOP_TARGETS.includes(name)) {
    if (!BEANSTALKD_PATH) return 'beanstalkd is not installed';
    if (name === 'relay-c' && !prepareRelay()) return 'no C compiler for bench/relay.c';
    return undefined;
  }
  const logged = LOGGED_TARGETS.includes(name) || REPLICATED_TARGETS.includes(name) || config.binlog;
  if (name !== 'beanstalkd' && name !== 'beanstalkd-b' && logged && !stalkdSupportsBinlog())
    return '`stalkd node -b` not available in this build';
  return undefined;
}

const children = new Set<ChildProcess>();
/** Kills every server still running (bench exit, Ctrl-C). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export interface Spawned {
  child: ChildProcess;
  port: number;
}

/** What a server printed last (at most this much of it, per process): shown when a run fails. */
const LOG_TAIL_BYTES = 4096;
const logTails = new Map<number, { label: string; text: string }>();

/**
 * The last lines each of `pids` printed, labelled, for the error of a failed run: a generator that
 * got an unexpected reply says what it got, the server's log says why it sent it.
 */
export function serverLogTails(pids: readonly number[]): string {
  const parts: string[] = [];
  for (const pid of pids) {
    const tail = logTails.get(pid);
    if (tail && tail.text.trim() !== '')
      parts.push(`--- ${tail.label} (pid ${pid}), last lines:\n${tail.text.trimEnd()}`);
  }
  return parts.join('\n');
}

/** Spawns a server and resolves with the port from its log line once the port is listening. */
function spawnServer(bin: string, args: string[], portLine: RegExp, label: string): Promise<Spawned> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const tail = { label, text: '' };
  const pid = child.pid ?? 0;
  logTails.set(pid, tail);
  // A bench run starts hundreds of processes; the failed run's are among the latest.
  if (logTails.size > 64) logTails.delete(logTails.keys().next().value as number);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let log = '';
    let found = false;
    const onData = (chunk: Buffer): void => {
      tail.text = (tail.text + chunk.toString('latin1')).slice(-LOG_TAIL_BYTES);
      if (found) return;
      log += chunk.toString('latin1');
      const m = portLine.exec(log);
      if (!m) return;
      found = true;
      const port = Number(m[1]);
      waitUntilListening(port).then(() => resolve({ child, port }), reject);
    };
    // Logs are read (and then drained) on both streams so a full pipe never blocks a server.
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (!found) reject(new Error(`${label} exited early (${code ?? signal}): ${log.slice(-2000)}`));
    });
  });
}

/** beanstalkd logs "bind" before listen(): poll the kernel's socket table for LISTEN. */
async function waitUntilListening(port: number): Promise<void> {
  if (!existsSync('/proc/net/tcp')) return;
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (let i = 0; i < 1_000_000; i++) {
    const rows = readFileSync('/proc/net/tcp', 'latin1').split('\n');
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      if (cols[1] === local && cols[3] === '0A') return;
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`nothing listens on ${port}`);
}

function stopper(procs: ChildProcess[]): (signal?: 'SIGTERM' | 'SIGKILL') => Promise<void> {
  return async (signal = 'SIGKILL') => {
    await Promise.all(
      procs.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            child.kill(signal);
          }),
      ),
    );
  };
}

function binlogFlags(b: BinlogConfig | undefined, dir: string | undefined): string[] {
  if (!b || !dir) return [];
  if (b.fsync === 'default') return ['-b', dir];
  return ['-b', dir, ...(b.fsync === 'never' ? ['-F'] : ['-f', String(b.fsync)])];
}

/** A target that is one spawned server process. */
function oneProcess(
  name: TargetName,
  spawnedAtMs: number,
  s: { port: number; child: ChildProcess },
): RunningTarget {
  return { name, host: HOST, port: s.port, pids: [s.child.pid ?? 0], spawnedAtMs, stop: stopper([s.child]) };
}

function spawnBeanstalkd(config: TargetConfig): Promise<Spawned> {
  const args = ['-V', '-l', HOST, '-p', '0', '-z', String(config.maxJobBytes)];
  args.push(...binlogFlags(config.binlog, config.binlog?.dir));
  return spawnServer(BEANSTALKD_PATH as string, args, /bind \d+ 127\.0\.0\.1:(\d+)/, 'beanstalkd');
}

async function startBeanstalkd(config: TargetConfig, name: TargetName): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  return oneProcess(name, spawnedAtMs, await spawnBeanstalkd(config));
}

/** A relay (bench/relay.c or bench/relay-server.ts) on an ephemeral port in front of `upstreamPort`. */
export function spawnRelay(kind: 'c' | 'node', upstreamPort: number): Promise<Spawned> {
  const flags = [
    '--host',
    HOST,
    '--port',
    '0',
    '--upstream-host',
    HOST,
    '--upstream-port',
    String(upstreamPort),
  ];
  if (kind === 'c') {
    const binary = prepareRelay();
    if (!binary) return Promise.reject(new Error('no C compiler for bench/relay.c'));
    return spawnServer(binary, flags, /listening (\d+)/, 'C relay');
  }
  const script = path.join(__dirname, 'relay-server.js');
  return spawnServer(process.execPath, [script, ...flags], /listening (\d+)/, 'Node relay');
}

/**
 * `beanstalkd -b` exactly as the beanstalkd-b target runs it, with a relay in front: bench/relay.c
 * (relay-c) or bench/relay-server.ts (relay-node). CPU and RSS count both processes.
 */
async function startRelayed(config: TargetConfig, name: TargetName): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  const upstream = await spawnBeanstalkd(config);
  let relay: Spawned;
  try {
    relay = await spawnRelay(name === 'relay-c' ? 'c' : 'node', upstream.port);
  } catch (err) {
    await stopper([upstream.child])();
    throw err;
  }
  const procs = [relay.child, upstream.child];
  return {
    name,
    host: HOST,
    port: relay.port,
    pids: procs.map((c) => c.pid ?? 0),
    roles: ['relay', 'beanstalkd'],
    spawnedAtMs,
    stop: stopper(procs),
  };
}

function startStalkdNode(
  config: TargetConfig,
  dir: string | undefined,
  extra: string[] = [],
  role = 'node',
): Promise<Spawned> {
  const args = [...(config.nodeArgs ?? []), stalkdCli(), 'node', '-V', '-l', HOST, '-p', '0'];
  args.push('-z', String(config.maxJobBytes), ...binlogFlags(config.binlog, dir), ...extra);
  return spawnStalkd(config, role, args, 'stalkd node');
}

/** `node ARGS` (through config.wrap for `role`), started once it listens. */
function spawnStalkd(config: TargetConfig, role: string, args: string[], label: string): Promise<Spawned> {
  const [bin, ...pre] = [...(config.wrap?.(role) ?? []), process.execPath];
  return spawnServer(bin as string, [...pre, ...args], /bind 127\.0\.0\.1:(\d+)/, label);
}

async function startNode(config: TargetConfig, name: TargetName): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  // --metrics-port takes a fixed port (0 = off): borrow a free one from the kernel.
  const metricsPort = config.metrics ? await freePort() : 0;
  const extra = metricsPort ? ['--metrics-port', String(metricsPort), '--metrics-max-tubes', '100000'] : [];
  const s = await startStalkdNode(config, config.binlog?.dir, extra);
  const t: RunningTarget = {
    name,
    host: HOST,
    port: s.port,
    pids: [s.child.pid ?? 0],
    spawnedAtMs,
    stop: stopper([s.child]),
  };
  if (metricsPort) {
    await waitUntilListening(metricsPort);
    t.metricsUrl = `http://${HOST}:${metricsPort}/metrics`;
  }
  return t;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Three stalkd nodes (started in parallel) and `stalkd proxy` in front, from a topology file that
 * pins the generator's tubes b0..b255 round-robin to the nodes so each carries an equal share (ring
 * placement of a handful of tubes is lumpy). Builds without the proxy subcommand use
 * bench/proxy-launcher.ts (the same startProxyServer, same pins).
 */
async function startProxy(config: TargetConfig, name: TargetName): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  const nodes = await Promise.all(
    Array.from({ length: PROXY_NODES }, (_, i) =>
      startStalkdNode(
        config,
        config.binlog ? path.join(config.binlog.dir, `n${i}`) : undefined,
        [],
        `node ${i}`,
      ),
    ),
  );
  let args: string[];
  let topologyFile: string | undefined;
  if (existsSync(path.join(stalkdRoot, 'cli', 'proxy.js'))) {
    const pins: Record<string, string> = {};
    for (let i = 0; i < 256; i++) pins[`b${i}`] = `n${i % PROXY_NODES}`;
    const topology = {
      version: 1,
      description: 'bench: three local stalkd nodes, generator tubes pinned round-robin',
      nodes: nodes.map((n, i) => ({ name: `n${i}`, index: i, host: HOST, port: n.port, weight: 1 })),
      pins,
    };
    mkdirSync(TMP_DIR, { recursive: true });
    topologyFile = path.join(TMP_DIR, `topology-${process.pid}-${nodes[0]?.port ?? 0}.json`);
    writeFileSync(topologyFile, JSON.stringify(topology));
    args = [
      stalkdCli(),
      'proxy',
      '-V',
      '-l',
      HOST,
      '-p',
      '0',
      '-z',
      String(config.maxJobBytes),
      '--topology',
      topologyFile,
    ];
  } else {
    args = [path.join(__dirname, 'proxy-launcher.js'), '--max-job-bytes', String(config.maxJobBytes)];
    for (const n of nodes) args.push('--node', `${HOST}:${n.port}`);
  }
  const proxy = await spawnStalkd(config, 'proxy', [...(config.nodeArgs ?? []), ...args], 'stalkd proxy');
  const procs = [proxy.child, ...nodes.map((n) => n.child)];
  const stopAll = stopper(procs);
  return {
    name,
    host: HOST,
    port: proxy.port,
    pids: procs.map((c) => c.pid ?? 0),
    spawnedAtMs,
    stop: async (signal) => {
      await stopAll(signal);
      if (topologyFile) rmSync(topologyFile, { force: true });
    },
  };
}

async function startNull(gen: Generator, config: TargetConfig, bodyBytes: number): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  const [bin, ...pre] = gen.command as [string, ...string[]];
  const args = [...pre, '--mode', 'serve', '--host', HOST, '--port', '0', '--body', String(bodyBytes)];
  void config;
  const s = await spawnServer(bin, args, /listening (\d+)/, 'null server');
  return oneProcess('null', spawnedAtMs, s);
}

/**
 * The Node floor: the Node generator's do-nothing server (bench/loadgen-node.ts --mode serve, one
 * process, prebuilt replies, one write per read). What any Node server can do at most on this
 * machine in a scenario: the gap between it and `stalkd node` is stalkd's own work, the gap between
 * it and the C server is the Node runtime's per-event cost.
 */
async function startNodeNull(config: TargetConfig, bodyBytes: number): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  const script = path.join(__dirname, 'loadgen-node.js');
  const args = [script, '--mode', 'serve', '--host', HOST, '--port', '0', '--body', String(bodyBytes)];
  void config;
  const s = await spawnServer(process.execPath, args, /listening (\d+)/, 'Node do-nothing server');
  return oneProcess('node-null', spawnedAtMs, s);
}

/**
 * The Node floor with the cheapest reads and writes (bench/floor-server.ts: `onread` into one reused
 * buffer, one write per connection per loop turn): what a Node server can reach when it avoids the
 * stream machinery.
 */
async function startNodeOnread(bodyBytes: number): Promise<RunningTarget> {
  const spawnedAtMs = performance.now();
  const script = path.join(__dirname, 'floor-server.js');
  const args = [script, '--host', HOST, '--port', '0', '--body', String(bodyBytes)];
  const s = await spawnServer(process.execPath, args, /listening (\d+)/, 'Node onread floor server');
  return oneProcess('node-onread', spawnedAtMs, s);
}

export function startTarget(
  name: TargetName,
  config: TargetConfig,
  gen: Generator,
  bodyBytes: number,
): Promise<RunningTarget> {
  switch (name) {
    case 'beanstalkd':
    case 'beanstalkd-b':
      return startBeanstalkd(config, name);
    case 'node':
    case 'node-b':
      return startNode(config, name);
    case 'proxy':
    case 'cluster':
      return startProxy(config, name);
    case 'null':
      return startNull(gen, config, bodyBytes);
    case 'node-null':
      return startNodeNull(config, bodyBytes);
    case 'node-onread':
      return startNodeOnread(bodyBytes);
    case 'node-r':
      return startReplicated(config, name, startStalkdNode, freePort);
    case 'relay-c':
    case 'relay-node':
      return startRelayed(config, name);
  }
}
