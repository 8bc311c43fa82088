/**
 * The cluster description shared by the proxy, the launcher (`stalkd cluster`), compose and k8s:
 * which nodes exist (name, stable index, address, weight), which tubes are pinned where, and where
 * the proxy listens. Format and examples: cluster/README.md, cluster/examples/*.json.
 *
 * The stable `index` is baked into every job id the proxy hands out (src/proxy/job-id.ts), and the
 * `name` seeds the node's points on the ring (src/proxy/ring.ts): neither may change for a node that
 * holds jobs. Addresses may change freely.
 */
import { readFileSync } from 'node:fs';
import { endpointText, socketPathOf, socketPathProblem } from '../net/endpoint';
import { MAX_PORT } from '../net/limits';
import { MAX_NODES } from './job-id';

/**
 * One more member of a shard: a standby of the entry it is listed under (docs/replication.md). It
 * shares the entry's `name` and `index` — ids keep naming the shard, whichever member is primary.
 */
export interface TopologyMember {
  host: string;
  port: number;
  /** Optional, read by the launcher and deploy files. */
  metricsPort?: number;
  dataDir?: string;
}

export interface TopologyNode {
  /** Ring identity: 1–64 chars of [A-Za-z0-9._-]. */
  name: string;
  /** Stable index, 0 ≤ index < MAX_NODES; encoded in job ids. */
  index: number;
  /** A TCP host, or `unix:PATH`: the node's Unix domain socket (same machine; src/net/endpoint.ts). */
  host: string;
  /** The TCP port; 0 for a `unix:` host. */
  port: number;
  /** Relative share of tubes; 1 = 160 ring points. */
  weight: number;
  /** Optional, read by the launcher and deploy files. */
  metricsPort?: number;
  dataDir?: string;
  /** The shard's standbys; the entry's own host/port is its initial primary. */
  replicas?: TopologyMember[];
  /**
   * Leaving the cluster: owns no tube (no ring points, no pins) but stays reachable for the jobs it
   * still holds until `stalkd migrate` has emptied it (docs/migration.md).
   */
  leaving?: boolean;
}

/** Standbys per shard at most (a shard of 8 members is already far past the documented 1 + 2). */
export const MAX_REPLICAS = 7;

export interface TopologyProxy {
  host?: string;
  port?: number;
  adminPort?: number;
  metricsPort?: number;
}

export interface Topology {
  nodes: TopologyNode[];
  /** tube name → node name; overrides the ring. */
  pins: Map<string, string>;
  proxy: TopologyProxy;
}

export class TopologyError extends Error {
  readonly code = 'E_TOPOLOGY';
  constructor(message: string, source: string) {
    super(`${source}: ${message}`);
    this.name = 'TopologyError';
  }
}

const NODE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}$/;
const TOP_KEYS = new Set(['version', 'nodes', 'pins', 'proxy', 'description']);
const NODE_KEYS = new Set([
  'name',
  'index',
  'host',
  'port',
  'weight',
  'metricsPort',
  'dataDir',
  'replicas',
  'leaving',
]);
const MEMBER_KEYS = new Set(['host', 'port', 'metricsPort', 'dataDir']);
const PROXY_KEYS = new Set(['host', 'port', 'adminPort', 'metricsPort']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: Set<string>, where: string, source: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      throw new TopologyError(
        `unknown key "${key}" in ${where} (allowed: ${[...allowed].join(', ')})`,
        source,
      );
    }
  }
}

function readPort(v: unknown, where: string, source: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_PORT) {
    throw new TopologyError(`${where} must be a port number 1..${MAX_PORT}`, source);
  }
  return v;
}

/** The optional keys a node entry and a replica share. */
function readMemberExtras(
  raw: Record<string, unknown>,
  member: TopologyMember,
  where: string,
  source: string,
): void {
  if (raw.metricsPort !== undefined)
    member.metricsPort = readPort(raw.metricsPort, `${where}.metricsPort`, source);
  if (raw.dataDir !== undefined) {
    if (typeof raw.dataDir !== 'string') throw new TopologyError(`${where}.dataDir must be a string`, source);
    member.dataDir = raw.dataDir;
  }
}

function readHost(v: unknown, where: string, source: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new TopologyError(`${where}.host is required`, source);
  return v;
}

function parseReplicas(raw: unknown, where: string, source: string): TopologyMember[] {
  if (!Array.isArray(raw) || raw.length > MAX_REPLICAS) {
    throw new TopologyError(`${where}.replicas must be an array of at most ${MAX_REPLICAS} members`, source);
  }
  return raw.map((r: unknown, i) => {
    const at = `${where}.replicas[${i}]`;
    if (!isRecord(r)) throw new TopologyError(`${at} must be an object {host, port}`, source);
    checkKeys(r, MEMBER_KEYS, at, source);
    const host = readHost(r.host, at, source);
    const member: TopologyMember = { host, port: readNodePort(host, r.port, at, source) };
    readMemberExtras(r, member, at, source);
    return member;
  });
}

/** A node's port: required for a TCP host, absent for `unix:PATH` (whose path must be usable). */
function readNodePort(host: string, port: unknown, where: string, source: string): number {
  const path = socketPathOf(host);
  if (path === undefined) return readPort(port, `${where}.port`, source);
  const problem = socketPathProblem(path);
  if (problem) throw new TopologyError(`${where}.host: ${problem}`, source);
  if (port !== undefined)
    throw new TopologyError(`${where}.port must not be given with a unix: host`, source);
  return 0;
}

function parseNode(raw: unknown, position: number, source: string): TopologyNode {
  const where = `nodes[${position}]`;
  if (!isRecord(raw)) throw new TopologyError(`${where} must be an object`, source);
  checkKeys(raw, NODE_KEYS, where, source);
  const { name, index, weight = 1 } = raw;
  if (typeof name !== 'string' || !NODE_NAME.test(name)) {
    throw new TopologyError(`${where}.name must be 1-64 chars of [A-Za-z0-9._-]`, source);
  }
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_NODES) {
    throw new TopologyError(`${where}.index must be an integer 0..${MAX_NODES - 1}`, source);
  }
  const host = readHost(raw.host, where, source);
  if (typeof weight !== 'number' || !(weight > 0) || weight > 100) {
    throw new TopologyError(`${where}.weight must be a number in (0, 100]`, source);
  }
  const node: TopologyNode = { name, index, host, port: readNodePort(host, raw.port, where, source), weight };
  readMemberExtras(raw, node, where, source);
  if (raw.replicas !== undefined) node.replicas = parseReplicas(raw.replicas, where, source);
  if (raw.leaving !== undefined) {
    if (typeof raw.leaving !== 'boolean')
      throw new TopologyError(`${where}.leaving must be true or false`, source);
    if (raw.leaving) node.leaving = true;
  }
  return node;
}

function parseProxy(raw: unknown, source: string): TopologyProxy {
  if (raw === undefined) return {};
  if (!isRecord(raw)) throw new TopologyError('proxy must be an object', source);
  checkKeys(raw, PROXY_KEYS, 'proxy', source);
  const proxy: TopologyProxy = {};
  if (raw.host !== undefined) {
    if (typeof raw.host !== 'string') throw new TopologyError('proxy.host must be a string', source);
    proxy.host = raw.host;
  }
  if (raw.port !== undefined) proxy.port = readPort(raw.port, 'proxy.port', source);
  if (raw.adminPort !== undefined) proxy.adminPort = readPort(raw.adminPort, 'proxy.adminPort', source);
  if (raw.metricsPort !== undefined)
    proxy.metricsPort = readPort(raw.metricsPort, 'proxy.metricsPort', source);
  return proxy;
}

/** How peers and proxies name a member: `host:port` (`[v6]:port`, a socket's path). */
export function memberAddress(a: { host: string; port: number }): string {
  return endpointText(a.host, a.port);
}

/** Every member of a shard: the entry itself (the initial primary), then its replicas. */
export function shardMembers(node: TopologyNode): TopologyMember[] {
  return [node, ...(node.replicas ?? [])];
}

function checkUnique(nodes: TopologyNode[], source: string): void {
  const names = new Set<string>();
  const indexes = new Set<number>();
  for (const n of nodes) {
    if (names.has(n.name)) throw new TopologyError(`duplicate node name "${n.name}"`, source);
    if (indexes.has(n.index)) throw new TopologyError(`duplicate node index ${n.index}`, source);
    names.add(n.name);
    indexes.add(n.index);
  }
  if (!nodes.some((n) => n.replicas)) return;
  // With shards, a member listed twice would be a standby of itself or of two shards.
  const members = new Map<string, string>();
  for (const n of nodes) {
    for (const m of shardMembers(n)) {
      const address = `${m.host}:${m.port}`;
      const other = members.get(address);
      if (other !== undefined) {
        throw new TopologyError(`${address} is listed twice (in "${other}" and in "${n.name}")`, source);
      }
      members.set(address, n.name);
    }
  }
}

function parsePins(raw: unknown, nodes: TopologyNode[], source: string): Map<string, string> {
  const pins = new Map<string, string>();
  if (raw === undefined) return pins;
  if (!isRecord(raw)) throw new TopologyError('pins must be an object {tube: nodeName}', source);
  for (const [tube, nodeName] of Object.entries(raw)) {
    if (!TUBE_NAME.test(tube)) throw new TopologyError(`pins: "${tube}" is not a valid tube name`, source);
    const node = typeof nodeName === 'string' ? nodes.find((n) => n.name === nodeName) : undefined;
    if (node === undefined || typeof nodeName !== 'string') {
      throw new TopologyError(`pins: tube "${tube}" names unknown node ${JSON.stringify(nodeName)}`, source);
    }
    if (node.leaving)
      throw new TopologyError(`pins: tube "${tube}" is pinned to leaving node "${nodeName}"`, source);
    pins.set(tube, nodeName);
  }
  return pins;
}

/** Validates a parsed JSON document. `source` names it in error messages. */
export function parseTopology(raw: unknown, source = 'topology'): Topology {
  if (!isRecord(raw)) throw new TopologyError('must be a JSON object', source);
  checkKeys(raw, TOP_KEYS, 'the top level', source);
  if (raw.version !== undefined && raw.version !== 1) throw new TopologyError('version must be 1', source);
  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0) {
    throw new TopologyError('nodes must be a non-empty array', source);
  }
  const nodes = raw.nodes.map((n, i) => parseNode(n, i, source));
  checkUnique(nodes, source);
  if (nodes.every((n) => n.leaving)) throw new TopologyError('at least one node must not be leaving', source);
  return { nodes, pins: parsePins(raw.pins, nodes, source), proxy: parseProxy(raw.proxy, source) };
}

/** `${NAME}` in a topology file: an environment variable of the proxy (upper case, digits, _). */
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces every `${NAME}` in a topology file's text with the variable's value (JSON-escaped, so
 * a value can never break the document). Kubernetes uses it to name nodes after the StatefulSet
 * and headless Service as kustomize renamed them (deploy/k8s, `replacements`). An unset variable
 * is an error naming it, never an empty string.
 */
export function expandEnvironment(
  text: string,
  source: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return text.replace(ENV_REFERENCE, (_all, name: string) => {
    const value = env[name];
    if (value === undefined) throw new TopologyError(`\${${name}} is not set in the environment`, source);
    return JSON.stringify(value).slice(1, -1);
  });
}

export function loadTopologyFile(path: string): Topology {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TopologyError(`cannot read: ${(err as Error).message}`, path);
  }
  text = expandEnvironment(text, path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(`invalid JSON: ${(err as Error).message}`, path);
  }
  return parseTopology(json, path);
}

/**
 * `--nodes HOST:PORT,NAME=HOST:PORT,unix:PATH,NAME=unix:PATH,…`: node index = position, name
 * `node-<index>` unless given. Names do not depend on addresses, so a node may move without
 * reshuffling the ring.
 */
export function topologyFromNodeList(list: string): Topology {
  const items = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const nodes = items.map((item, index) => {
    const eq = item.indexOf('=');
    const name = eq >= 0 ? item.slice(0, eq) : `node-${index}`;
    const addr = eq >= 0 ? item.slice(eq + 1) : item;
    if (socketPathOf(addr) !== undefined) return { name, index, host: addr, weight: 1 };
    const colon = addr.lastIndexOf(':');
    if (colon <= 0) throw new TopologyError(`"${item}" is not HOST:PORT`, '--nodes');
    const host = addr.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    return { name, index, host, port: Number(addr.slice(colon + 1)), weight: 1 };
  });
  return parseTopology({ nodes }, '--nodes');
}
