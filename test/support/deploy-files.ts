/**
 * Readers for the deploy files (compose, Prometheus, Grafana provisioning) and the checks shared by
 * the compose and Kubernetes tests: a container's command line parsed by the real CLI, and the
 * local run of a whole stack with the containers' own flags (ports and paths swapped for local
 * ones) to ask each process for the paths that probes and scrapers use.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { type ParsedCommandLine, parseContainerCommand, replaceOptionValues } from './cli-capture';
import { freePort, httpGet, type RunningCli, type StopResult, startCli } from './cli-process';

/** Repository root (this file runs from dist/test/support). */
export const REPO = resolve(__dirname, '..', '..', '..');

export function repoPath(...parts: string[]): string {
  return join(REPO, ...parts);
}

/** The unprivileged user of the official node images (Kubernetes runs the image with its uid). */
export const IMAGE_USER = { name: 'node', uid: 1000 };

/** Parses a YAML file; compose files use `<<:` merge keys, so those are honoured. */
export function readYaml<T = Record<string, unknown>>(path: string): T {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as T;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  entrypoint?: unknown;
  command?: string[];
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: Record<string, unknown>;
  stop_grace_period?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export interface Mount {
  source: string;
  target: string;
  /** A named volume (declared under top-level `volumes:`) rather than a host path. */
  named: boolean;
  readOnly: boolean;
}

/** Short-syntax volume entries (`src:dst[:ro]`); bind sources resolved against `baseDir`. */
export function mountsOf(service: ComposeService, baseDir: string): Mount[] {
  return (service.volumes ?? []).map((entry) => {
    const [source = '', target = '', mode] = entry.split(':');
    const named = !source.startsWith('.') && !source.startsWith('/');
    return { source: named ? source : resolve(baseDir, source), target, named, readOnly: mode === 'ro' };
  });
}

export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(
    env.map((kv) => {
      const eq = kv.indexOf('=');
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
}

/**
 * `environment` values as compose makes them from the shell's `vars`: `${NAME}`, `${NAME:-default}`,
 * `${NAME:?message}` (compose refuses to run when NAME is unset: so does this, by throwing).
 */
export function interpolate(
  env: Record<string, string>,
  vars: Record<string, string>,
): Record<string, string> {
  const value = (text: string) =>
    text.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}/g,
      (_, name: string, op?: string, arg?: string) => {
        const v = vars[name];
        if (v !== undefined && v !== '') return v;
        if (op === '?') throw new Error(`${name} is not set: ${arg}`);
        return op === '-' ? (arg ?? '') : '';
      },
    );
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, value(v)]));
}

/** A container command line parsed by the project's CLI, or an assertion failure naming it. */
export function parseOrFail(where: string, args: readonly string[], env: Record<string, string> = {}) {
  try {
    return parseContainerCommand(args, env);
  } catch (err) {
    assert.fail(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Duration strings as compose and Prometheus write them (`30s`, `1m30s`, `500ms`) in ms. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  for (let m = /^(\d+)(ms|s|m|h)/.exec(rest); m; m = /^(\d+)(ms|s|m|h)/.exec(rest)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  assert.equal(rest, '', `cannot read duration "${text}"`);
  return total;
}

/** One stalkd container of a deployment, as the local stack run needs it. */
export interface StackMember {
  /** Container / service name; for nodes, the topology node name it serves. */
  name: string;
  parsed: ParsedCommandLine;
}

export interface MemberResult {
  name: string;
  /** HTTP status for each path asked. */
  statuses: Map<string, number>;
  stop: StopResult;
  stopMs: number;
}

async function localArgs(member: StackMember, dataRoot: string, extra: Record<string, string>) {
  const port = await freePort();
  const metricsPort = await freePort();
  const swaps: Record<string, string> = {
    '-l': '127.0.0.1',
    '-p': String(port),
    '--metrics-port': String(metricsPort),
    '--metrics-host': '127.0.0.1',
    ...extra,
  };
  if (member.parsed.subcommand === 'node') swaps['-b'] = join(dataRoot, member.name);
  return { args: replaceOptionValues(member.parsed.args, swaps), port, metricsPort };
}

/** Polls `path` until it answers 200 or `timeoutMs` passes; returns the last status. */
async function statusWhenSettled(port: number, path: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await httpGet(port, path);
    if (status === 200 || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts the nodes, then the proxy with `topologyJson` rewritten so each node's host/port/metrics
 * port point at the local process serving it, asks every process for `paths`, and stops them all
 * with SIGTERM (proxy first). Data directories and the topology live in a fresh temp dir.
 */
export async function runStackLocally(
  nodes: StackMember[],
  proxy: StackMember,
  topologyJson: string,
  paths: { node: Iterable<string>; proxy: Iterable<string> },
): Promise<MemberResult[]> {
  const dataRoot = mkdtempSync(join(tmpdir(), 'stalkd-deploy-'));
  const running: Array<{
    member: StackMember;
    cli: RunningCli;
    metricsPort: number;
    paths: Iterable<string>;
  }> = [];
  try {
    const topology = JSON.parse(topologyJson) as { nodes: Array<Record<string, unknown>> };
    for (const member of nodes) {
      const local = await localArgs(member, dataRoot, {});
      running.push({
        member,
        cli: await startCli(local.args, local.metricsPort),
        ...local,
        paths: paths.node,
      });
      const entry = topology.nodes.find((n) => n.name === member.name);
      assert.ok(entry, `topology has no node named ${member.name}`);
      Object.assign(entry, { host: '127.0.0.1', port: local.port, metricsPort: local.metricsPort });
    }
    const topologyPath = join(dataRoot, 'topology.json');
    writeFileSync(topologyPath, JSON.stringify(topology));
    const local = await localArgs(proxy, dataRoot, { '--topology': topologyPath });
    running.push({
      member: proxy,
      cli: await startCli(local.args, local.metricsPort),
      ...local,
      paths: paths.proxy,
    });
    const results: MemberResult[] = [];
    for (const r of running) {
      const statuses = new Map<string, number>();
      for (const path of r.paths) statuses.set(path, await statusWhenSettled(r.metricsPort, path, 5000));
      results.push({
        name: r.member.name,
        statuses,
        stop: { code: null, signal: null, stderr: '' },
        stopMs: 0,
      });
    }
    for (const r of [...running].reverse()) {
      const startedMs = Date.now();
      const stop = await r.cli.stop();
      const result = results.find((x) => x.name === r.member.name) as MemberResult;
      result.stop = stop;
      result.stopMs = Date.now() - startedMs;
    }
    running.length = 0;
    return results;
  } finally {
    for (const r of running) await r.cli.stop();
    rmSync(dataRoot, { recursive: true, force: true });
  }
}
