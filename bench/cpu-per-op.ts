/**
 * CPU per operation of each server process, split into user and system time and into the main
 * thread and the others (V8's GC helpers, libuv's pool: fsync), for one scenario against one bench
 * target (bench/targets.ts), fresh. What bench/README.md's "where a request's microseconds go" and
 * bench/SCALE.md quote; wall-clock rates on the shared VM are noisy, CPU per op much less.
 *
 *   node dist/bench/cpu-per-op.js --target node-b --mode put --conns 64 --depth 1 --count 100000
 *        [--rounds 3] [--profile DIR]   (--profile: stalkd processes run with --cpu-prof)
 *        [--warmup N]   (N requests of the same scenario first, unmeasured: JIT warm-up)
 *        [--fsync default|never|MS]   (logged targets: each server's default, -F, -f MS)
 *        [--node-args '--single-threaded-gc …']   (flags for the stalkd processes' node)
 *        [--callgrind proxy|node|'node 0']   (that process under valgrind's callgrind, counting
 *         from the measured run's start to its end: instructions per operation, each thread apart;
 *         deterministic where CPU time swings with the machine's load. Slow: ~1k ops/s)
 *
 * Targets: beanstalkd, beanstalkd-b, node, node-b, proxy, cluster, node-null, node-onread, null,
 * relay-c and relay-node (beanstalkd -b behind a relay: one line for the relay, one for beanstalkd).
 * Modes as the generator's (put, resdel, cycle, mixed). Prints one line per process and round, with
 * its VmRSS when the run ends.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type LoadgenArgs, prepareGenerator, runLoadgen, TMP_DIR } from './loadgen';
import { cpuTimes, rssBytes } from './machine';
import {
  HOP_TARGETS,
  isLogged,
  PROXY_NODES,
  serverLogTails,
  startTarget,
  TARGET_NAMES,
  type TargetConfig,
  type TargetName,
  unsupported,
} from './targets';

interface Times {
  user: number;
  system: number;
  helpers: number;
}

/** The process's times, with the CPU of every thread but the main one as `helpers`. */
function sample(pid: number): Times {
  const all = cpuTimes(`/proc/${pid}/stat`);
  const main = cpuTimes(`/proc/${pid}/task/${pid}/stat`);
  let threads = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (Number(tid) === pid) continue;
      const t = cpuTimes(`/proc/${pid}/task/${tid}/stat`);
      threads += t.user + t.system;
    }
  } catch {
    // the process is gone
  }
  return {
    user: main.user,
    system: main.system,
    helpers: Math.max(threads, all.user + all.system - main.user - main.system),
  };
}

/**
 * One stalkd process of a target under callgrind, instrumented only while the measured run goes
 * (`--instr-atstart=no`, then callgrind_control), one output file per thread.
 */
class Callgrind {
  private readonly file: string;
  private pid = 0;

  constructor(private readonly role: string) {
    mkdirSync(TMP_DIR, { recursive: true });
    this.file = path.join(mkdtempSync(path.join(TMP_DIR, 'callgrind-')), 'out');
  }

  wrap(role: string): string[] {
    if (role !== this.role) return [];
    const flags = ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes'];
    return ['valgrind', ...flags, `--callgrind-out-file=${this.file}`];
  }

  /** `pids` as the target lists them (a cluster: proxy, node 0, 1, 2). */
  start(pids: number[], target: string): void {
    const index = this.role === 'proxy' ? 0 : Number(/\d+$/.exec(this.role)?.[0] ?? -1) + 1;
    this.pid = pids[target === 'cluster' || target === 'proxy' ? index : 0] ?? 0;
    this.control('-i', 'on');
  }

  /** Instrumentation off and the counts written now (the target's stop may not wait for an exit dump). */
  stop(): void {
    this.control('-i', 'off');
    this.control('-d');
  }

  private control(...args: string[]): void {
    const r = spawnSync('callgrind_control', [...args, String(this.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  }

  /** Instructions per operation of the main thread and of all threads, every dump summed. */
  report(ops: number): string {
    const dir = path.dirname(this.file);
    let main = 0;
    let all = 0;
    for (const name of readdirSync(dir)) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      const ir = Number(/\ntotals: (\d+)/.exec(text)?.[1] ?? 0);
      all += ir;
      if (name.endsWith('-01')) main += ir;
    }
    if (!process.env.KEEP_CG) rmSync(dir, { recursive: true, force: true });
    const per = (n: number): string => (n / ops).toFixed(0);
    return `    ${this.role.padEnd(10)} callgrind: main thread ${per(main)} instructions/op, all threads ${per(all)}`;
  }
}

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const target = flag(argv, '--target', 'node-b') as TargetName;
  const rounds = Number(flag(argv, '--rounds', '1'));
  const profile = flag(argv, '--profile', '');
  const warmup = Number(flag(argv, '--warmup', '0'));
  const fsyncFlag = flag(argv, '--fsync', 'default');
  const nodeArgs = flag(argv, '--node-args', '').split(' ').filter(Boolean);
  const load: LoadgenArgs = {
    mode: flag(argv, '--mode', 'put') as LoadgenArgs['mode'],
    conns: Number(flag(argv, '--conns', '64')),
    depth: Number(flag(argv, '--depth', '1')),
    count: Number(flag(argv, '--count', '100000')),
    seconds: Number(flag(argv, '--seconds', '30')),
    bodyBytes: Number(flag(argv, '--body', '100')),
    tubePerConn: true,
    prefill: flag(argv, '--mode', 'put') === 'resdel',
  };
  const callgrind = flag(argv, '--callgrind', '');
  if (!TARGET_NAMES.includes(target)) throw new Error(`unknown target ${target}`);
  // Only stalkd processes are started through config.wrap.
  if (callgrind && HOP_TARGETS.includes(target))
    throw new Error(`--callgrind: ${target} runs no stalkd process`);
  const gen = prepareGenerator(false);
  for (let round = 0; round < rounds; round++) {
    const config: TargetConfig = { maxJobBytes: 65535 };
    config.nodeArgs = nodeArgs;
    if (profile) config.nodeArgs = [...nodeArgs, '--cpu-prof', '--cpu-prof-dir', path.resolve(profile)];
    const cg = callgrind ? new Callgrind(callgrind) : null;
    if (cg) config.wrap = (role) => cg.wrap(role);
    let dir: string | undefined;
    if (isLogged(target)) {
      mkdirSync(TMP_DIR, { recursive: true });
      dir = mkdtempSync(path.join(TMP_DIR, `cpu-${target}-`));
      for (let i = 0; i < PROXY_NODES; i++) mkdirSync(path.join(dir, `n${i}`));
      config.binlog = {
        dir,
        fsync: fsyncFlag === 'default' || fsyncFlag === 'never' ? fsyncFlag : Number(fsyncFlag),
      };
    }
    const why = unsupported(target, config);
    if (why) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      throw new Error(`${target}: ${why}`);
    }
    const t = await startTarget(target, config, gen, load.bodyBytes);
    let cgResult: { cg: Callgrind; ops: number } | undefined;
    let before: Times[] = [];
    let after: Times[] = [];
    try {
      // Warm-up (unmeasured): a fresh Node process spends its first ~100k requests compiling (V8's
      // background threads), which no long-running server pays per request.
      const withLogs = (err: unknown): never => {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`${why}\n${serverLogTails(t.pids)}`);
      };
      if (warmup > 0)
        await runLoadgen(gen, { ...load, count: warmup }, t.host, t.port, () => {}).catch(withLogs);
      let rss: number[] = [];
      cg?.start(t.pids, target);
      const result = await runLoadgen(gen, load, t.host, t.port, (marker) => {
        if (marker === 'run') before = t.pids.map(sample);
        else {
          after = t.pids.map(sample);
          rss = t.pids.map(rssBytes);
        }
      }).catch(withLogs);
      cg?.stop();
      if (after.length === 0) after = t.pids.map(sample);
      if (rss.length === 0) rss = t.pids.map(rssBytes);
      const us = (seconds: number): string => ((seconds * 1e6) / result.ops).toFixed(1).padStart(6);
      let total = 0;
      const lines = t.pids.map((_pid, i) => {
        const a = before[i] as Times;
        const b = after[i] as Times;
        const user = b.user - a.user;
        const system = b.system - a.system;
        const helpers = b.helpers - a.helpers;
        total += user + system + helpers;
        const role = t.roles?.[i] ?? (t.pids.length > 1 ? (i === 0 ? 'proxy' : `node ${i - 1}`) : target);
        const mib = ((rss[i] ?? 0) / 1048576).toFixed(1);
        return `    ${role.padEnd(10)} main user ${us(user)} sys ${us(system)}  other threads ${us(helpers)}  µs/op  RSS ${mib} MiB`;
      });
      const lat = result.cycleUs ? ` cycle p50 ${result.cycleUs.p50} p99 ${result.cycleUs.p99} µs` : '';
      process.stdout.write(
        `${target} ${load.mode} ${load.conns}×${load.depth}: ${result.rate.toFixed(0)} ops/s, ` +
          `server CPU ${us(total).trim()} µs/op${lat}\n${lines.join('\n')}\n`,
      );
      if (cg) cgResult = { cg, ops: result.ops };
    } finally {
      await t.stop('SIGTERM');
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    if (cgResult) process.stdout.write(`${cgResult.cg.report(cgResult.ops)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`cpu-per-op: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
