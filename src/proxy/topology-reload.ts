/**
 * `stalkd proxy --topology FILE` follows FILE without a restart: on SIGHUP (the CLI calls
 * `reload`) and when the file changes. Kubernetes updates a mounted ConfigMap by swapping a
 * symlink in its directory (`..data`), which a watch on the file itself misses, so the directory is
 * watched and every event in it re-reads the file (debounced; an unchanged text is no reload).
 *
 * A file is taken as a whole or not at all: it must parse and validate (topology.ts), and it must
 * follow from the current one — an index keeps its name (it is in every job id; the name seeds the
 * ring), and a node may leave the file only once it holds no job (mark it `"leaving": true` and run
 * `stalkd migrate` first). A refused file leaves the current topology in place; the error is
 * logged and counted (stalkd_proxy_topology_reloads_total{result="failed"}).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readYamlMap } from '../protocol/yaml';
import type { NodePool } from './node/node-pool';
import { jobsOf } from './previous-owners';
import { loadTopologyFile, type Topology, TopologyError } from './topology';

/** Debounce of file events (a ConfigMap update is several renames in a row), ms. */
const SETTLE_MS = 100;

export interface ReloadTarget {
  pool: NodePool;
  reload(topology: Topology): Promise<void>;
}

export interface ReloadEvents {
  reloaded(topology: Topology, version: number): void;
  refused(error: Error): void;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'refused';

/** A 48-bit number from the file's text: the same file gives the same version on every proxy. */
export function topologyVersion(text: string): number {
  return Number.parseInt(createHash('sha256').update(text).digest('hex').slice(0, 12), 16);
}

/**
 * Jobs node `index` holds: `stats`' ready + reserved + delayed + buried, plus the jobs being moved
 * out (`x-list-moving`; stats counts them nowhere), as migrate and the cluster count them; null when
 * it cannot be asked.
 */
async function jobsOn(pool: NodePool, index: number): Promise<number | null> {
  const link = pool.get(index);
  if (!link?.up) return null;
  const [reply, moving] = await Promise.all([link.controlRequest({ op: 'stats' }), link.countMoving()]);
  if (!reply?.body || moving === null) return null;
  return jobsOf(readYamlMap(reply.body)) + moving;
}

/** Why `next` cannot follow `current`, or null. */
export async function refusalOf(current: Topology, next: Topology, pool: NodePool): Promise<string | null> {
  for (const node of next.nodes) {
    const before = current.nodes.find((n) => n.index === node.index);
    if (before && before.name !== node.name) {
      return `node index ${node.index} was "${before.name}", now "${node.name}": an index stays with its node`;
    }
  }
  for (const node of current.nodes) {
    if (next.nodes.some((n) => n.index === node.index)) continue;
    const jobs = await jobsOn(pool, node.index);
    if (jobs === null) return `node "${node.name}" left the file but cannot be asked whether it holds jobs`;
    if (jobs > 0) {
      return `node "${node.name}" left the file holding ${jobs} jobs: mark it "leaving": true and run stalkd migrate first`;
    }
  }
  return null;
}

export class TopologyReloader {
  private watcher: FSWatcher | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private lastText: string;
  private chain: Promise<ReloadOutcome> = Promise.resolve('unchanged');
  /** The version of the topology in use (topologyVersion of its text). */
  version: number;

  constructor(
    private readonly file: string,
    private current: Topology,
    private readonly target: ReloadTarget,
    private readonly events: ReloadEvents,
  ) {
    this.lastText = readText(file) ?? '';
    this.version = topologyVersion(this.lastText);
  }

  get topology(): Topology {
    return this.current;
  }

  /** Re-reads the file now (after any reload in progress). */
  reload(): Promise<ReloadOutcome> {
    this.chain = this.chain.then(
      () => this.reloadOnce(),
      () => this.reloadOnce(),
    );
    return this.chain;
  }

  /** Re-reads the file when anything in its directory changes. */
  watch(): void {
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => void this.reload(), SETTLE_MS);
      this.settleTimer.unref();
    });
    this.watcher.on('error', () => {});
  }

  close(): void {
    this.watcher?.close();
    if (this.settleTimer) clearTimeout(this.settleTimer);
  }

  private async reloadOnce(): Promise<ReloadOutcome> {
    const text = readText(this.file);
    if (text !== null && text === this.lastText) return 'unchanged';
    try {
      const next = loadTopologyFile(this.file);
      const refusal = await refusalOf(this.current, next, this.target.pool);
      if (refusal) throw new TopologyError(refusal, this.file);
      await this.target.reload(next);
      this.current = next;
      this.lastText = text ?? '';
      this.version = topologyVersion(this.lastText);
      this.events.reloaded(next, this.version);
      return 'reloaded';
    } catch (err) {
      this.events.refused(err as Error);
      return 'refused';
    }
  }
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
