/**
 * Builds Snapshots: asks every node of the view for its figures (node-sampler.ts), in parallel,
 * and turns successive answers into rows with rates. A poll never overlaps the previous one: the
 * caller awaits `collect()`; a node that does not answer within `requestTimeoutMs` is shown as
 * unreachable for that poll and the others are not held up longer than that.
 */
import type { ConnectOptions, TubeStats } from '../client';
import { endpointText } from '../net/endpoint';
import type { ClusterView, DashboardNodeInfo, DashboardShardInfo } from './cluster-view';
import {
  DEFAULT_HISTORY,
  type HistoryOptions,
  NodeHistory,
  type NodeSeries,
  sharesOf,
  totalOf,
} from './node-history';
import { type NodeSample, NodeSampler } from './node-sampler';
import { perSecond, RateTracker, type Step } from './rates';
import type { NodeRow, Snapshot, TubeRow } from './snapshot';

export interface CollectorOptions {
  /** The balance panel's window (node-history.ts). */
  history?: HistoryOptions;
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
  private readonly history: NodeHistory;
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
    this.history = new NodeHistory(options.history ?? DEFAULT_HISTORY);
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
      let taken: Step | null = null;
      const tubes = sample.tubes.map((t) => {
        const key = `${node.index}/${t.name}`;
        const step = this.rates.flowStep(
          `${key}#reserve`,
          t['current-jobs-reserved'] + t['cmd-delete'],
          sample.atMs,
        );
        if (step) taken = { delta: (taken?.delta ?? 0) + step.delta, elapsedMs: step.elapsedMs };
        return this.tubeRow(node.index, t, sample.atMs, perSecond(step));
      });
      tubeRows.push(...tubes.filter((t) => !t.stray || t.ready + t.reserved + t.delayed + t.buried > 0));
      nodeRows.push(this.nodeRow(node, sample, tubes, taken));
      tubesNotShown += sample.tubesNotShown;
    });
    this.rates.sweep();
    const atMs = Date.now();
    this.fillBalance(nodeRows, atMs);
    tubeRows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.node - b.node));
    return { seq: ++this.seq, atMs, nodes: nodeRows, tubes: tubeRows, tubesNotShown };
  }

  /** Each node's shares and sparklines (node-history.ts), from the rows of this poll. */
  private fillBalance(rows: NodeRow[], nowMs: number): void {
    this.history.keep(new Set(rows.map((r) => r.key)));
    const series = new Map(rows.map((r) => [r.key, this.history.series(r.key, nowMs)]));
    const puts = sharesOf(new Map([...series].map(([k, s]) => [k, totalOf(s.puts)])));
    const reserves = sharesOf(new Map([...series].map(([k, s]) => [k, totalOf(s.reserves)])));
    const jobs = sharesOf(new Map(rows.map((r) => [r.key, r.ready + r.reserved + r.delayed + r.buried])));
    for (const row of rows) {
      const s = series.get(row.key) as NodeSeries;
      row.putShare = puts.get(row.key) ?? null;
      row.reserveShare = reserves.get(row.key) ?? null;
      row.jobShare = jobs.get(row.key) ?? null;
      row.putHistory = s.puts;
      row.reserveHistory = s.reserves;
    }
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

  private tubeRow(node: number, t: TubeStats, atMs: number, reservePerSec: number | null): TubeRow {
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
      reservePerSec,
      deletePerSec: this.rates.rate(`${key}#delete`, t['cmd-delete'], atMs),
    };
  }

  /** `taken`: the node's reserve estimate since the previous poll (its tubes' summed). */
  private nodeRow(
    node: DashboardNodeInfo,
    sample: NodeSample,
    tubes: TubeRow[],
    taken: Step | null,
  ): NodeRow {
    const s = sample.stats;
    const key = `n${node.index}`;
    let reservePerSec: number | null = null;
    for (const t of tubes)
      if (t.reservePerSec !== null) reservePerSec = (reservePerSec ?? 0) + t.reservePerSec;
    const put = s ? this.rates.step(`${key}#put`, s['cmd-put'], sample.atMs) : null;
    if (put) this.history.record(key, sample.atMs, put.elapsedMs, put.delta, taken?.delta ?? 0);
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
      putPerSec: perSecond(put),
      reservePerSec: reservePerSec === null ? null : Math.round(reservePerSec * 10) / 10,
      ...shardFields(node.shard),
      // Filled once every node of the poll is known (fillBalance).
      putShare: null,
      reserveShare: null,
      jobShare: null,
      putHistory: [],
      reserveHistory: [],
      historyBucketMs: this.history.options.bucketMs,
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
    failover: c ? `failover ${c.from} → ${c.to} (term ${c.term}) at ${at} UTC` : '',
  };
}
