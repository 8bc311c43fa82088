/**
 * The scenarios of issue 8 and the targets they are judged against. Sizes are per mode: full
 * runs use the issue's sizes (1,000,000 jobs for memory and replay); --quick shrinks every count
 * so the whole bench takes about a minute, and says so in its output.
 */
import type { LoadgenArgs } from './loadgen';
import type { TargetName } from './targets';

export type ScenarioKind = 'throughput' | 'latency' | 'memory' | 'replay' | 'scrape' | 'full-copy';

export interface Goal {
  /**
   * of ÷ its beanstalkd (beanstalkd for node and proxy, beanstalkd -b for node-b and cluster) must be
   * ≥ min or ≤ max (node-r ÷ node-b); for the added* metrics, of minus its reference in µs.
   */
  of: 'node' | 'proxy' | 'node-b' | 'cluster' | 'node-r';
  metric: string;
  min?: number;
  max?: number;
  text: string;
}

export interface Scenario {
  id: string;
  title: string;
  kind: ScenarioKind;
  /** The headline metric: its key in Measurement.metrics, unit, and direction. */
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  targets: readonly TargetName[];
  load(quick: boolean): LoadgenArgs;
  maxJobBytes?: number;
  /** Binlog fsync policy when the scenario needs a log (-f MS or -F). */
  fsync?: number | 'never';
  goals: Goal[];
}

const ALL: readonly TargetName[] = ['beanstalkd', 'node', 'proxy'];
const WITH_CEILING: readonly TargetName[] = [
  'beanstalkd',
  'node',
  'proxy',
  'null',
  'node-null',
  'node-onread',
];
/** The scenarios users' traffic looks like also run against the logged targets (LOGGED_TARGETS). */
const WITH_LOGGED: readonly TargetName[] = [...WITH_CEILING, 'beanstalkd-b', 'node-b', 'cluster'];
/**
 * The one-request-in-flight scenarios also run beanstalkd -b behind a relay (HOP_TARGETS): what one
 * more process on the path costs, beside what the cluster costs. Cheap, so only where latency is
 * what is measured.
 */
const WITH_HOP: readonly TargetName[] = [...WITH_LOGGED, 'relay-c', 'relay-node'];
const pick = (quick: boolean, full: number, small: number): number => (quick ? small : full);
/** Issue 16: the node with one synchronous standby beside the same node unreplicated. */
const REPLICATED: readonly TargetName[] = ['node-b', 'node-r'];
/** The issue's goals for pipelined throughput: node ≥ 3× and proxy ≥ 2× beanstalkd. */
const PIPELINED_GOALS: Goal[] = [
  { of: 'node', metric: 'rate', min: 3, text: 'node ≥ 3×' },
  { of: 'proxy', metric: 'rate', min: 2, text: 'proxy ≥ 2×' },
  // Issue 18: with binlogs, against beanstalkd -b.
  { of: 'node-b', metric: 'rate', min: 2, text: 'node -b ≥ 2×' },
  { of: 'cluster', metric: 'rate', min: 1, text: 'cluster ≥ 1.0×' },
];

const durable = (fsync: number | 'never', label: string, goals: Goal[]): Scenario => ({
  id: `durable-put-${label}`,
  title: `durable put, ${fsync === 'never' ? '-F' : `-f ${fsync}`}, 16 conns × 1 in flight`,
  kind: 'throughput',
  metric: 'rate',
  unit: 'puts/s',
  higherIsBetter: true,
  targets: ALL,
  fsync,
  load: (q) => ({
    mode: 'put',
    conns: 16,
    depth: 1,
    count: pick(q, 30_000, 3_000),
    seconds: pick(q, 20, 2),
    setupSeconds: pick(q, 60, 5),
    bodyBytes: 100,
    tubePerConn: true,
    checkMonotonic: true,
  }),
  goals,
});

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'put-pipelined',
    title: 'put, 8 conns × 256 in flight, 100 B',
    kind: 'throughput',
    metric: 'rate',
    unit: 'puts/s',
    higherIsBetter: true,
    targets: WITH_LOGGED,
    load: (q) => ({
      mode: 'put',
      conns: 8,
      depth: 256,
      count: pick(q, 600_000, 100_000),
      seconds: pick(q, 20, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
      checkMonotonic: true,
    }),
    goals: PIPELINED_GOALS,
  },
  {
    id: 'put-1-in-flight',
    title: 'put, 64 conns × 1 in flight, 100 B',
    kind: 'throughput',
    metric: 'rate',
    unit: 'puts/s',
    higherIsBetter: true,
    targets: WITH_HOP,
    load: (q) => ({
      mode: 'put',
      conns: 64,
      depth: 1,
      count: pick(q, 200_000, 30_000),
      seconds: pick(q, 15, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
      checkMonotonic: true,
    }),
    goals: [
      { of: 'node', metric: 'rate', min: 1, text: 'node ≥ 1.0×' },
      { of: 'node-b', metric: 'rate', min: 0.9, text: 'node -b ≥ 0.9×' },
      { of: 'cluster', metric: 'rate', min: 0.5, text: 'cluster ≥ 0.5×' },
    ],
  },
  {
    id: 'reserve-delete-pipelined',
    title: 'reserve + delete, 8 conns × 256 in flight (after an untimed prefill)',
    kind: 'throughput',
    metric: 'rate',
    unit: 'jobs/s',
    higherIsBetter: true,
    targets: WITH_LOGGED,
    load: (q) => ({
      mode: 'resdel',
      conns: 8,
      depth: 256,
      count: pick(q, 400_000, 30_000),
      seconds: pick(q, 40, 2),
      setupSeconds: pick(q, 120, 5),
      bodyBytes: 100,
      prefill: true,
      tubePerConn: true,
    }),
    goals: PIPELINED_GOALS,
  },
  {
    id: 'mixed',
    title: 'mixed: 4 producers + 4 consumers × 64 in flight',
    kind: 'throughput',
    metric: 'rate',
    unit: 'jobs/s',
    higherIsBetter: true,
    targets: WITH_CEILING,
    load: (q) => ({
      mode: 'mixed',
      conns: 4,
      consumers: 4,
      depth: 64,
      count: pick(q, 300_000, 40_000),
      seconds: pick(q, 20, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
    }),
    goals: [],
  },
  {
    id: 'ping-pong',
    title: 'ping-pong: put → reserve → delete on 1 conn',
    kind: 'latency',
    metric: 'rate',
    unit: 'cycles/s',
    higherIsBetter: true,
    targets: WITH_HOP,
    load: (q) => ({
      mode: 'cycle',
      conns: 1,
      depth: 1,
      count: pick(q, 30_000, 6_000),
      seconds: pick(q, 15, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
    }),
    goals: [
      { of: 'node', metric: 'rate', min: 1, text: 'node ≥ 1.0×' },
      { of: 'node', metric: 'cycleP99Us', max: 1.2, text: 'node p99 ≤ 1.2×' },
      { of: 'proxy', metric: 'addedP50Us', max: 100, text: 'proxy adds ≤ 100 µs p50' },
      { of: 'node-b', metric: 'rate', min: 0.9, text: 'node -b ≥ 0.9×' },
      { of: 'node-b', metric: 'cycleP99Us', max: 1.5, text: 'node -b p99 ≤ 1.5×' },
      { of: 'cluster', metric: 'rate', min: 0.5, text: 'cluster ≥ 0.5×' },
      { of: 'cluster', metric: 'addedCycleP50Us', max: 60, text: 'cluster p50 ≤ +60 µs' },
    ],
  },
  {
    id: 'body-64k',
    title: '64 KiB bodies: 2 producers + 2 consumers × 8 in flight',
    kind: 'throughput',
    metric: 'rate',
    unit: 'jobs/s',
    higherIsBetter: true,
    targets: WITH_CEILING,
    maxJobBytes: 65536,
    load: (q) => ({
      mode: 'mixed',
      conns: 2,
      consumers: 2,
      depth: 8,
      count: pick(q, 30_000, 3_000),
      seconds: pick(q, 20, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 65536,
      tubePerConn: true,
    }),
    goals: [],
  },
  {
    id: 'tubes-10k',
    title: 'mixed (4 + 4 × 64) with 10,000 tubes held by an idle watcher',
    kind: 'throughput',
    metric: 'rate',
    unit: 'jobs/s',
    higherIsBetter: true,
    targets: ALL,
    load: (q) => ({
      mode: 'mixed',
      conns: 4,
      consumers: 4,
      depth: 64,
      count: pick(q, 200_000, 30_000),
      seconds: pick(q, 20, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
      holdTubes: 10_000,
    }),
    goals: [{ of: 'node', metric: 'rate', min: 5, text: 'node ≥ 5×' }],
  },
  durable(0, 'f0', [{ of: 'node', metric: 'rate', min: 5, text: 'node ≥ 5× (group commit)' }]),
  durable(50, 'f50', []),
  durable('never', 'F', []),
  {
    id: 'memory-1m',
    title: 'RSS after 1,000,000 puts of 100 B',
    kind: 'memory',
    metric: 'rssMiB',
    unit: 'MiB',
    higherIsBetter: false,
    targets: ALL,
    load: (q) => ({
      mode: 'put',
      conns: 8,
      depth: 256,
      count: pick(q, 1_000_000, 50_000),
      seconds: pick(q, 180, 4),
      bodyBytes: 100,
      tubePerConn: true,
    }),
    goals: [{ of: 'node', metric: 'rssMiB', max: 1.2, text: 'node ≤ 1.2×' }],
  },
  {
    id: 'replay-1m',
    title: 'restart: time to first reply with 1,000,000 logged jobs (-F, killed with SIGKILL)',
    kind: 'replay',
    metric: 'seconds',
    unit: 's',
    higherIsBetter: false,
    targets: ALL,
    fsync: 'never',
    load: (q) => ({
      mode: 'put',
      conns: 8,
      depth: 256,
      count: pick(q, 1_000_000, 50_000),
      seconds: pick(q, 240, 4),
      bodyBytes: 100,
      tubePerConn: true,
    }),
    goals: [],
  },
  {
    id: 'scrape-10k',
    title: 'scrape with 10,000 tubes: list-tubes + stats-tube each (and GET /metrics where served)',
    kind: 'scrape',
    metric: 'seconds',
    unit: 's',
    higherIsBetter: false,
    targets: ALL,
    load: (q) => ({
      mode: 'scrape',
      conns: 1,
      depth: 1,
      count: 1,
      seconds: pick(q, 60, 3),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      holdTubes: 10_000,
    }),
    goals: [],
  },
  {
    id: 'repl-put-pipelined',
    title: 'put, 8 conns × 256 in flight, 100 B, -f 50: one synchronous standby vs none',
    kind: 'throughput',
    metric: 'rate',
    unit: 'puts/s',
    higherIsBetter: true,
    targets: REPLICATED,
    fsync: 50,
    load: (q) => ({
      mode: 'put',
      conns: 8,
      depth: 256,
      count: pick(q, 600_000, 100_000),
      seconds: pick(q, 20, 2),
      setupSeconds: pick(q, 60, 5),
      bodyBytes: 100,
      tubePerConn: true,
      checkMonotonic: true,
    }),
    goals: [{ of: 'node-r', metric: 'rate', min: 0.5, text: 'replicated ≥ 0.5× node -b' }],
  },
  {
    ...durable(0, 'f0', [{ of: 'node-r', metric: 'rate', min: 0.8, text: 'replicated ≥ 0.8× node -b' }]),
    id: 'repl-durable-put-f0',
    title: 'durable put, -f 0, 16 conns × 1 in flight: one synchronous standby (-f 0) vs none',
    targets: REPLICATED,
  },
  {
    id: 'repl-full-copy-1m',
    title: 'full copy of 1,000,000 jobs to a wiped standby (after a pipelined fill, -f 50)',
    kind: 'full-copy',
    metric: 'seconds',
    unit: 's',
    higherIsBetter: false,
    targets: ['node-r'],
    fsync: 50,
    load: (q) => ({
      mode: 'put',
      conns: 8,
      depth: 256,
      count: pick(q, 1_000_000, 50_000),
      seconds: pick(q, 240, 4),
      bodyBytes: 100,
      tubePerConn: true,
    }),
    goals: [],
  },
];
