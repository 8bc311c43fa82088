/**
 * Builds Snapshots: asks every node of the view for its figures (node-sampler.ts), in parallel,
 * and turns successive answers into rows with rates. A poll never overlaps the previous one: the
 * caller awaits `collect()`; a node that does not answer within `requestTimeoutMs` is shown as
 * unreachable for that poll and the others are not held up longer than that.
 */
import type { ConnectOptions, TubeStats } from '../client';
import { endpointText } from '../net/endpoint';
import type { ClusterView, DashboardNodeInfo, DashboardShardInfo } from './cluster-view';
import { type NodeSample, NodeSampler } from './node-sampler';
import { RateTracker } from './rates';
import type { NodeRow, Snapshot, TubeRow } from './snapshot';

export interface CollectorOptions {
  /** Tubes read per node per poll (stats-tube each); the rest are counted in tubesNotShown. */
  maxTubesPerNode?: number;
  requestTimeoutMs?: number;
  /** TLS for every node connection (`stalkd top` against a TLS endpoint). */
  tls?: ConnectOptions['tls'];
}

export const DEFAULT_MAX_TUBES_PER_NODE = 500;

export class SnapshotCollector {
  private readonly samplers = new Map<number, NodeSampler>();
  private readonly rates = new RateTracker();
  private seq = 0;
  private readonly maxTubes: number;
  private readonly timeoutMs: number;
  private readonly tls: ConnectOptions['tls'];

  constructor(
    private readonly view: ClusterView,
    options: CollectorOptions = {},
  ) {
    this.maxTubes = options.maxTubesPerNode ?? DEFAULT_MAX_TUBES_PER_NODE;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.tls = options.tls;
  }

  async collect(): Promise<Snapshot> {
    const nodes = this.view.nodes();
    this.syncSamplers(nodes);
    const samples = await Promise.all(
      nodes.map((n) => (this.samplers.get(n.index) as NodeSampler).sample(this.maxTubes)),
    );
    const nodeRows: NodeRow[] = [];
    const tubeRows: TubeRow[] = [];
    let tubesNotShown = 0;
    nodes.forEach((node, i) => {
      const sample = samples[i] as NodeSample;
      const tubes = sample.tubes.map((t) => this.tubeRow(node.index, t, sample.atMs));
      tubeRows.push(...tubes.filter((t) => !t.stray || t.ready + t.reserved + t.delayed + t.buried > 0));
      nodeRows.push(this.nodeRow(node, sample, tubes));
      tubesNotShown += sample.tubesNotShown;
    });
    this.rates.sweep();
    tubeRows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.node - b.node));
    return { seq: ++this.seq, atMs: Date.now(), nodes: nodeRows, tubes: tubeRows, tubesNotShown };
  }

  close(): void {
    for (const s of this.samplers.values()) s.close();
    this.samplers.clear();
  }

  /** One sampler per node index; a node whose address changed gets a new connection. */
  private syncSamplers(nodes: DashboardNodeInfo[]): void {
    const live = new Set<number>();
    for (const node of nodes) {
      live.add(node.index);
      const existing = this.samplers.get(node.index);
      if (existing && existing.address === endpointText(node.host, node.port)) continue;
      existing?.close();
      this.samplers.set(
        node.index,
        new NodeSampler({
          host: node.host,
          port: node.port,
          parkingTube: this.view.parkingTubeOf(node.index),
          hiddenTubes: this.view.hiddenTubes,
          timeoutMs: this.timeoutMs,
          ...(this.tls ? { tls: this.tls } : {}),
        }),
      );
    }
    for (const [index, sampler] of this.samplers) {
      if (!live.has(index)) {
        sampler.close();
        this.samplers.delete(index);
      }
    }
  }

  private tubeRow(node: number, t: TubeStats, atMs: number): TubeRow {
    const key = `${node}/${t.name}`;
    const owner = this.view.ownerOf(t.name);
    return {
      key,
      name: t.name,
      node,
      owner,
      stray: owner !== node,
      urgent: t['current-jobs-urgent'],
      ready: t['current-jobs-ready'],
      reserved: t['current-jobs-reserved'],
      delayed: t['current-jobs-delayed'],
      buried: t['current-jobs-buried'],
      totalJobs: t['total-jobs'],
      using: t['current-using'],
      watching: t['current-watching'],
      waiting: t['current-waiting'],
      pauseSecs: t.pause,
      pauseLeftSecs: t['pause-time-left'],
      putPerSec: this.rates.rate(`${key}#put`, t['total-jobs'], atMs),
      reservePerSec: this.rates.flow(`${key}#reserve`, t['current-jobs-reserved'] + t['cmd-delete'], atMs),
      deletePerSec: this.rates.rate(`${key}#delete`, t['cmd-delete'], atMs),
    };
  }

  private nodeRow(node: DashboardNodeInfo, sample: NodeSample, tubes: TubeRow[]): NodeRow {
    const s = sample.stats;
    const key = `n${node.index}`;
    let reservePerSec: number | null = null;
    for (const t of tubes)
      if (t.reservePerSec !== null) reservePerSec = (reservePerSec ?? 0) + t.reservePerSec;
    return {
      key,
      index: node.index,
      name: node.name,
      address: endpointText(node.host, node.port),
      kind: node.kind,
      up: node.up,
      reachable: s !== null,
      error: sample.error,
      version: s?.version ?? '',
      uptimeSecs: s?.uptime ?? 0,
      draining: s?.draining ?? false,
      urgent: s?.['current-jobs-urgent'] ?? 0,
      ready: s?.['current-jobs-ready'] ?? 0,
      reserved: s?.['current-jobs-reserved'] ?? 0,
      delayed: s?.['current-jobs-delayed'] ?? 0,
      buried: s?.['current-jobs-buried'] ?? 0,
      tubes: s?.['current-tubes'] ?? 0,
      connections: s?.['current-connections'] ?? 0,
      producers: s?.['current-producers'] ?? 0,
      workers: s?.['current-workers'] ?? 0,
      waiting: s?.['current-waiting'] ?? 0,
      putPerSec: s ? this.rates.rate(`${key}#put`, s['cmd-put'], sample.atMs) : null,
      reservePerSec: reservePerSec === null ? null : Math.round(reservePerSec * 10) / 10,
      ...shardFields(node.shard),
    };
  }
}

/** A shard's members, standbys and last failover as the row's flat fields (snapshot.ts). */
export function shardFields(
  shard: DashboardShardInfo | undefined,
): Pick<NodeRow, 'members' | 'inSyncStandbys' | 'failing' | 'failover'> {
  if (!shard) return { members: '', inSyncStandbys: -1, failing: false, failover: '' };
  const members = shard.members.map((m) => {
    if (m.role === '') return `${m.address} not answering`;
    if (m.role !== 'standby') return `${m.address} ${m.role}`;
    const sync = m.inSync ? 'in sync' : 'NOT in sync';
    return `${m.address} standby ${sync}, lag ${m.lagRecords} rec ${m.lagSeconds.toFixed(1)} s`;
  });
  const c = shard.lastChange;
  const at = c ? new Date(c.atMs).toISOString().slice(11, 19) : '';
  return {
    members: `term ${shard.term}: ${members.join(' · ')}`,
    inSyncStandbys: shard.inSyncStandbys,
    failing: shard.failingSinceMs !== null,
    failover: c ? `failover ${c.from} → ${c.to} (term ${c.term}) at ${at}` : '',
  };
}
