/**
 * The load generator as the orchestrator sees it: bench/loadgen.c (with loadgen-conn.c,
 * loadgen-serve.c and loadgen.h) compiled with `cc -O2` into bench/results/tmp/ when a compiler
 * exists, else the Node fallback (bench/loadgen-node.ts, one process per worker). Both take the
 * same flags and print the same one-line JSON.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** What one generator run prints (bench/loadgen.c's main, loadgen-node.ts's report). */
export interface LoadgenResult {
  mode: string;
  conns: number;
  consumers: number;
  depth: number;
  body: number;
  /** Completed operations of the measured phase (puts, reserve+delete pairs, cycles, tubes). */
  ops: number;
  seconds: number;
  rate: number;
  puts: number;
  reserveDeletes: number;
  /** The run hit --seconds before --count: rate is over what completed. */
  capped: boolean;
  setupSeconds: number;
  prefillSeconds?: number;
  tubes?: number;
  scrapeBytes?: number;
  cycleUs?: Percentiles;
  requestUs?: Percentiles;
  /** Generator CPU (user + system) during the measured phase. */
  cpuSeconds: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
  count: number;
}

export interface LoadgenArgs {
  mode: 'put' | 'resdel' | 'cycle' | 'mixed' | 'scrape';
  conns: number;
  consumers?: number;
  depth: number;
  count: number;
  seconds: number;
  /** Cap on connect + setup + prefill (generator default: max(3 × seconds, 20)). */
  setupSeconds?: number;
  bodyBytes: number;
  prefill?: boolean;
  tubePerConn?: boolean;
  holdTubes?: number;
  checkMonotonic?: boolean;
}

export interface Generator {
  kind: 'c' | 'node';
  /** argv[0] and leading args; flags follow. */
  command: string[];
}

export const BENCH_SOURCE_DIR = path.resolve(__dirname, '..', '..', 'bench');
export const TMP_DIR = path.join(BENCH_SOURCE_DIR, 'results', 'tmp');

/**
 * The C programs under bench/: each one's files, .c and .h alike, for the rebuild check; the .c
 * files are what the compiler gets.
 */
const C_PROGRAMS = {
  loadgen: ['loadgen.c', 'loadgen-conn.c', 'loadgen-serve.c', 'loadgen.h'],
  relay: ['relay.c'],
} as const;

/** Compiles the C generator when a C compiler is present (again when any of its files is newer). */
export function prepareGenerator(forceNode = false): Generator {
  const binary = forceNode ? undefined : compileBenchC('loadgen');
  if (binary) return { kind: 'c', command: [binary] };
  return { kind: 'node', command: [process.execPath, path.join(__dirname, 'loadgen-node.js')] };
}

/** bench/relay.c compiled (the relay-c target), or undefined without a C compiler. */
export function prepareRelay(): string | undefined {
  return compileBenchC('relay');
}

/**
 * A program of C_PROGRAMS compiled with `cc -O2` into TMP_DIR/NAME, again when any of its files is
 * newer than the binary (a header edit changes every file that includes it).
 */
function compileBenchC(name: keyof typeof C_PROGRAMS): string | undefined {
  const files = C_PROGRAMS[name].map((f) => path.join(BENCH_SOURCE_DIR, f));
  const binary = path.join(TMP_DIR, name);
  const cc = findCompiler();
  if (!cc || !files.every((f) => existsSync(f))) return undefined;
  mkdirSync(TMP_DIR, { recursive: true });
  const newest = Math.max(...files.map((f) => statSync(f).mtimeMs));
  if (!existsSync(binary) || statSync(binary).mtimeMs < newest) {
    const sources = files.filter((f) => f.endsWith('.c'));
    execFileSync(cc, ['-O2', '-Wall', '-o', binary, ...sources], { stdio: 'inherit' });
  }
  return binary;
}

function findCompiler(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (!cc) continue;
    const probe = spawnSync(cc, ['--version'], { stdio: 'ignore' });
    if (probe.status === 0) return cc;
  }
  return undefined;
}

export function loadgenFlags(a: LoadgenArgs, host: string, port: number): string[] {
  const flags = [
    '--host',
    host,
    '--port',
    String(port),
    '--mode',
    a.mode,
    '--conns',
    String(a.conns),
    '--depth',
    String(a.depth),
    '--count',
    String(a.count),
    '--seconds',
    String(a.seconds),
    '--body',
    String(a.bodyBytes),
  ];
  if (a.consumers) flags.push('--consumers', String(a.consumers));
  if (a.setupSeconds) flags.push('--setup-seconds', String(a.setupSeconds));
  if (a.prefill) flags.push('--prefill');
  if (a.tubePerConn) flags.push('--tube-per-conn');
  if (a.holdTubes) flags.push('--hold-tubes', String(a.holdTubes));
  if (a.checkMonotonic) flags.push('--check-monotonic');
  return flags;
}

/** Runs one generator; a capped run (exit 4) is a result, any other failure throws with stderr. */
export function runLoadgen(
  gen: Generator,
  args: LoadgenArgs,
  host: string,
  port: number,
  onMarker: (marker: 'run' | 'done') => void = () => {},
): Promise<LoadgenResult> {
  const [bin, ...pre] = gen.command as [string, ...string[]];
  const child = spawn(bin, [...pre, ...loadgenFlags(args, host, port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let scanned = 0;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    // "#run" / "#done" lines mark the measured phase as it happens.
    for (let nl = out.indexOf('\n', scanned); nl >= 0; nl = out.indexOf('\n', scanned)) {
      const line = out.slice(scanned, nl);
      scanned = nl + 1;
      if (line === '#run' || line === '#done') onMarker(line === '#run' ? 'run' : 'done');
    }
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0 && code !== 4) {
        reject(new Error(`loadgen ${args.mode} failed (exit ${code}): ${err.trim() || out.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as LoadgenResult);
      } catch {
        reject(new Error(`loadgen printed no result: ${out} ${err}`));
      }
    });
  });
}
