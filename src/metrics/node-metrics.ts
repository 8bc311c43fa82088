/**
 * A storage node's families (see families.ts NODE). Everything is read from the engine in collect
 * callbacks at scrape time: the engine already keeps its counts and per-command counters current
 * incrementally, so the hot path does nothing for metrics. The only observed event is the binlog's
 * fsync duration, delivered through the FsyncObserver hook below.
 *
 * Per-tube series are bounded by a TubeCap (allowlist + the N tubes holding the most jobs); the
 * selection is computed once per scrape by the first tube family and shared by the others.
 */
import { statfsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { EngineCounts } from '../engine/stats';
import { COUNTED_COMMANDS, type TubeStats } from '../protocol/stats';
import { PUT_REFUSALS } from '../server/handlers';
import type { NodeServer } from '../server/node-server';
import { Role } from '../server/shard';
import { tubeStats } from '../server/stats-view';
import { createRegistry, scrapeSnapshot } from './common';
import {
  CONNECTION_ROLES,
  createCounter,
  createGauge,
  createHistogram,
  JOB_STATES,
  NODE,
  NODE_LABEL,
  setCounter,
} from './families';
import { type MetricsServer, type Readiness, startMetricsServer } from './metrics-server';
import { registerReplicationMetrics } from './replication-metrics';
import { capTubes, DEFAULT_MAX_TUBES, type TubeCap } from './tube-cap';

/** What src/binlog calls after each successful fsync/fdatasync of a segment (wall time). */
export interface FsyncObserver {
  onFsync(seconds: number): void;
}

/**
 * What the node metrics read from the node's log: DurableLog's stats plus optional extras a binlog
 * can offer (checked structurally, so src/binlog need not import this file): an fsync hook, exact
 * on-disk figures and the live-data size.
 */
interface MetricsAwareLog {
  setFsyncObserver?(observer: FsyncObserver | undefined): void;
  stats(): BinlogFigures;
}

interface BinlogFigures {
  oldestIndex: number;
  currentIndex: number;
  recordsMigrated: number;
  recordsWritten: number;
  /** Segment size (-s), under either name. */
  maxBytes?: number;
  maxSizeBytes?: number;
  /** Segment files on disk. */
  segments?: number;
  /** Bytes of all segment files, preallocation included. */
  diskBytes?: number;
  /** Bytes of the live jobs' records (what a compacted log would hold). */
  liveBytes?: number;
  /** Failed writes so far, and whether records can be written now. */
  writeErrors?: number;
  /** Segments made on the event loop because no preallocated one was ready. */
  blockingPreallocations?: number;
  writable?: boolean;
}

export interface NodeMetricsOptions {
  /** The node's topology name and index (stalkd_node_info); index '' when unknown. */
  nodeName?: string;
  nodeIndex?: string;
  /** The binlog directory (-b): its filesystem's free and total bytes are exported. */
  binlogDir?: string;
  maxTubes?: number;
  tubeAllowlist?: Iterable<string>;
}

/** Series each exported tube costs: 4 states + created + deletes + waiting + paused + oldest age. */
const SERIES_PER_TUBE = JOB_STATES.length + 5;

export function registerNodeMetrics(
  registry: Registry,
  server: NodeServer,
  options: NodeMetricsOptions = {},
): void {
  const engine = server.engine;
  const counts: EngineCounts = engine.counts;
  const cap: TubeCap = {
    maxTubes: options.maxTubes ?? DEFAULT_MAX_TUBES,
    allow: new Set(options.tubeAllowlist ?? []),
  };

  createGauge(registry, NODE.jobs, function () {
    for (const state of JOB_STATES) this.set({ state }, counts[state]);
  });
  createGauge(registry, NODE.jobsUrgent, function () {
    this.set(counts.urgent);
  });
  createCounter(registry, NODE.jobsCreated, function () {
    this.reset();
    setCounter(this, counts.totalJobs);
  });
  createCounter(registry, NODE.commands, function () {
    this.reset();
    for (const command of COUNTED_COMMANDS) setCounter(this, server.cmd[command], { command });
  });
  createCounter(registry, NODE.jobTimeouts, function () {
    this.reset();
    setCounter(this, counts.jobTimeouts);
  });
  createGauge(registry, NODE.connections, function () {
    this.set(counts.sessions);
  });
  createGauge(registry, NODE.connectionRoles, function () {
    const byRole: Record<(typeof CONNECTION_ROLES)[number], number> = {
      producer: counts.producers,
      worker: counts.workers,
      waiting: counts.waiting,
    };
    for (const role of CONNECTION_ROLES) this.set({ role }, byRole[role]);
  });
  createCounter(registry, NODE.connectionsAccepted, function () {
    this.reset();
    setCounter(this, server.totalConnections);
  });
  createCounter(registry, NODE.connectionsRefused, function () {
    this.reset();
    setCounter(this, server.connectionsRefused);
  });
  createCounter(registry, NODE.connectionsTimedOut, function () {
    this.reset();
    setCounter(this, server.stalls.timedOut);
  });
  createCounter(registry, NODE.putsRefused, function () {
    this.reset();
    for (const reason of PUT_REFUSALS) setCounter(this, server.putsRefused[reason], { reason });
  });
  createCounter(registry, NODE.jobsMoved, function () {
    this.reset();
    setCounter(this, engine.moves.movedOut, { direction: 'out' });
    setCounter(this, engine.moves.movedIn, { direction: 'in' });
  });
  createCounter(registry, NODE.movesFailed, function () {
    this.reset();
    for (const reason of PUT_REFUSALS) setCounter(this, server.movesFailed[reason], { reason });
  });
  createGauge(registry, NODE.jobsMoving, function () {
    this.set(engine.moves.movingCount);
  });
  createGauge(registry, NODE.jobsBytes, function () {
    this.set(engine.jobsBytes);
  });
  createGauge(registry, NODE.jobsMaxBytes, function () {
    this.set(engine.maxJobsBytes);
  });
  createGauge(registry, NODE.tubes, function () {
    this.set(counts.tubes);
  });
  createGauge(registry, NODE.draining, function () {
    this.set(engine.draining ? 1 : 0);
  });
  createGauge(registry, NODE.oldestReadyAge, function () {
    let oldestMs = Number.POSITIVE_INFINITY;
    for (const tube of engine.tubeList) oldestMs = Math.min(oldestMs, tube.oldestReadyCreatedAtMs());
    this.set(ageSeconds(engine.clock.nowMs(), oldestMs));
  });
  const info = createGauge(registry, NODE.nodeInfo);
  info.set({ [NODE_LABEL]: options.nodeName ?? hostname(), index: options.nodeIndex ?? '' }, 1);

  const log = server.log as MetricsAwareLog | undefined;
  if (log) registerBinlogMetrics(registry, log);
  if (options.binlogDir !== undefined) registerFilesystemMetrics(registry, options.binlogDir);
  registerTubeMetrics(registry, server, cap);
  if (server.shard.view().role !== Role.Standalone) registerReplicationMetrics(registry, server.shard);
}

function registerBinlogMetrics(registry: Registry, log: MetricsAwareLog): void {
  createGauge(registry, NODE.binlogFiles, function () {
    this.set(binlogFiles(log.stats()));
  });
  createGauge(registry, NODE.binlogDiskBytes, function () {
    const s = log.stats();
    // Segments are preallocated to the segment size, so files × size is what they occupy when
    // the log does not report the exact figure.
    this.set(s.diskBytes ?? binlogFiles(s) * (s.maxBytes ?? s.maxSizeBytes ?? 0));
  });
  if (log.stats().liveBytes !== undefined) {
    createGauge(registry, NODE.binlogLiveBytes, function () {
      this.set(log.stats().liveBytes ?? 0);
    });
  }
  createCounter(registry, NODE.binlogRecordsWritten, function () {
    this.reset();
    setCounter(this, log.stats().recordsWritten);
  });
  if (log.stats().writeErrors !== undefined) {
    createCounter(registry, NODE.binlogWriteErrors, function () {
      this.reset();
      setCounter(this, log.stats().writeErrors ?? 0);
    });
    createGauge(registry, NODE.binlogWritable, function () {
      this.set(log.stats().writable === false ? 0 : 1);
    });
  }
  if (log.stats().blockingPreallocations !== undefined) {
    createCounter(registry, NODE.binlogBlockingPreallocations, function () {
      this.reset();
      setCounter(this, log.stats().blockingPreallocations ?? 0);
    });
  }
  createCounter(registry, NODE.binlogRecordsMigrated, function () {
    this.reset();
    setCounter(this, log.stats().recordsMigrated);
  });
  if (log.setFsyncObserver) {
    const fsync = createHistogram(registry, NODE.binlogFsync);
    log.setFsyncObserver({ onFsync: (seconds) => fsync.observe(seconds) });
  }
}

/** statfs at scrape time (one syscall); a failing statfs exports NaN (comparisons with it are false). */
function registerFilesystemMetrics(registry: Registry, dir: string): void {
  const figures = scrapeSnapshot(() => {
    try {
      const s = statfsSync(dir);
      return { availBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
    } catch {
      return undefined;
    }
  });
  createGauge(registry, NODE.binlogFilesystemAvail, function () {
    this.set(figures.refresh()?.availBytes ?? Number.NaN);
  });
  createGauge(registry, NODE.binlogFilesystemSize, function () {
    this.set(figures.current()?.sizeBytes ?? Number.NaN);
  });
}

/** Seconds since `createdAtMs`, 0 for none (Infinity) and never negative (clock steps). */
function ageSeconds(nowMs: number, createdAtMs: number): number {
  return Number.isFinite(createdAtMs) ? Math.max(0, nowMs - createdAtMs) / 1000 : 0;
}

function binlogFiles(s: BinlogFigures): number {
  if (s.segments !== undefined) return s.segments;
  return s.currentIndex > 0 ? s.currentIndex - s.oldestIndex + 1 : 0;
}

function registerTubeMetrics(registry: Registry, server: NodeServer, cap: TubeCap): void {
  const engine = server.engine;
  // Tubes are read through stats-tube's own view, so the metrics and the protocol agree.
  const selection = scrapeSnapshot(() => {
    const nowMs = engine.clock.nowMs();
    return capTubes(
      engine.tubeList.map((t) => tubeStats(t, nowMs)),
      (t) => t.name,
      jobsIn,
      cap,
    );
  });
  const each = (fn: (tube: TubeStats) => void): void => {
    for (const tube of selection.current().selected) fn(tube);
  };
  // Registered first among the tube families, so it takes the scrape's selection (in a chunk of
  // its own: the renderer yields between families).
  createCounter(registry, NODE.tubeSeriesDropped, function () {
    this.inc(selection.refresh().dropped * SERIES_PER_TUBE);
  });
  createGauge(registry, NODE.tubeJobs, function () {
    this.reset();
    each((t) => {
      for (const state of JOB_STATES) this.set({ tube: t.name, state }, t[`current-jobs-${state}`]);
    });
  });
  createCounter(registry, NODE.tubeJobsCreated, function () {
    this.reset();
    each((t) => setCounter(this, t['total-jobs'], { tube: t.name }));
  });
  createCounter(registry, NODE.tubeDeletes, function () {
    this.reset();
    each((t) => setCounter(this, t['cmd-delete'], { tube: t.name }));
  });
  createGauge(registry, NODE.tubeReserveWaiting, function () {
    this.reset();
    each((t) => this.set({ tube: t.name }, t['current-waiting']));
  });
  createGauge(registry, NODE.tubePaused, function () {
    this.reset();
    each((t) => this.set({ tube: t.name }, t.pause > 0 ? 1 : 0));
  });
  createGauge(registry, NODE.tubeOldestReadyAge, function () {
    this.reset();
    const nowMs = engine.clock.nowMs();
    each((t) => {
      const oldestMs = engine.findTube(t.name)?.oldestReadyCreatedAtMs() ?? Number.POSITIVE_INFINITY;
      this.set({ tube: t.name }, ageSeconds(nowMs, oldestMs));
    });
  });
}

function jobsIn(t: TubeStats): number {
  return (
    t['current-jobs-ready'] +
    t['current-jobs-reserved'] +
    t['current-jobs-delayed'] +
    t['current-jobs-buried']
  );
}

export interface NodeMetricsEndpointOptions extends NodeMetricsOptions {
  host: string;
  port: number;
}

/**
 * Registry + node families + HTTP server for one node. Call after the node listens (binlog replay
 * runs before listen, so "listening" implies "replay finished"). Ready while listening and not
 * draining; live while the process answers.
 */
export async function startNodeMetrics(
  server: NodeServer,
  options: NodeMetricsEndpointOptions,
): Promise<MetricsServer> {
  const registry = createRegistry('node');
  registerNodeMetrics(registry, server, options);
  return startMetricsServer({
    host: options.host,
    port: options.port,
    registry,
    live: () => true,
    ready: () => nodeReadiness(server),
  });
}

export function nodeReadiness(server: NodeServer): Readiness {
  if (server.port === 0) return { ok: false, reason: 'not listening' };
  if (server.engine.draining) return { ok: false, reason: 'draining' };
  // Puts would answer OUT_OF_MEMORY: take the node out of rotation until the disk recovers.
  if ((server.log as MetricsAwareLog | undefined)?.stats().writable === false)
    return { ok: false, reason: 'binlog not writable (disk full or failing)' };
  return { ok: true };
}
