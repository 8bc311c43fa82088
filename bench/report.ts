/**
 * Medians across rounds, ratios to beanstalkd, the issue's goals, and the markdown tables that
 * bench/results/latest.md and the README quote.
 */
import type { MachineInfo } from './machine';
import type { Measurement } from './measure';
import type { Goal, Scenario } from './scenarios';
import { TARGET_NAMES, type TargetName } from './targets';

export interface TargetSummary {
  /** Median of each metric over the successful rounds. */
  median: Record<string, number>;
  runs: number;
  errors: string[];
  skipped?: string;
  /** Median server CPU of the measured phase ÷ its wall time (1.0 = one core busy). */
  serverCores?: number;
  generatorCores?: number;
}

export interface GoalResult {
  /** The target judged (absent in reports written before issue 18: node or proxy). */
  of?: Goal['of'];
  text: string;
  value: number | null;
  met: boolean | null;
}

export interface ScenarioSummary {
  id: string;
  title: string;
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  targets: Partial<Record<TargetName, TargetSummary>>;
  /** metric(target) ÷ metric(beanstalkd). */
  ratios: Partial<Record<TargetName, number>>;
  goals: GoalResult[];
}

export interface BenchReport {
  mode: 'full' | 'quick';
  rounds: number;
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  generator: { kind: 'c' | 'node'; note: string };
  scenarios: ScenarioSummary[];
  measurements: Measurement[];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summarizeTarget(runs: Measurement[]): TargetSummary {
  const ok = runs.filter((m) => m.metrics);
  const errors = runs.flatMap((m) => (m.error ? [m.error] : []));
  const summary: TargetSummary = { median: {}, runs: ok.length, errors };
  const skipped = runs.find((m) => m.skipped)?.skipped;
  if (skipped) summary.skipped = skipped;
  const keys = new Set(ok.flatMap((m) => Object.keys(m.metrics ?? {})));
  for (const key of keys) {
    const values = ok.map((m) => m.metrics?.[key]).filter((v): v is number => typeof v === 'number');
    if (values.length > 0) summary.median[key] = median(values);
  }
  const cores = (pick: (m: Measurement) => number | undefined): number | undefined => {
    const v = ok
      .map((m) => ({ cpu: pick(m), wall: m.loadgen?.seconds ?? 0 }))
      .filter((x): x is { cpu: number; wall: number } => typeof x.cpu === 'number' && x.wall > 0)
      .map((x) => x.cpu / x.wall);
    return v.length ? median(v) : undefined;
  };
  const s = cores((m) => m.serverCpuSeconds);
  const g = cores((m) => m.generatorCpuSeconds);
  if (s !== undefined) summary.serverCores = s;
  if (g !== undefined) summary.generatorCores = g;
  return summary;
}

/** Whom a target is compared with: the logged targets with beanstalkd -b, the others with beanstalkd. */
export function referenceOf(t: TargetName): TargetName {
  if (t === 'node-r') return 'node-b';
  return t === 'node-b' || t === 'cluster' || HOP.has(t) ? 'beanstalkd-b' : 'beanstalkd';
}

function evaluateGoal(goal: Goal, s: ScenarioSummary): GoalResult {
  const bs = s.targets[referenceOf(goal.of)]?.median;
  const of = s.targets[goal.of]?.median;
  let value: number | null = null;
  if (goal.metric === 'addedP50Us') {
    const direct = s.targets.node?.median.requestP50Us;
    const proxied = of?.requestP50Us;
    if (direct !== undefined && proxied !== undefined) value = proxied - direct;
  } else if (goal.metric === 'addedCycleP50Us') {
    const a = of?.cycleP50Us;
    const b = bs?.cycleP50Us;
    if (a !== undefined && b !== undefined) value = a - b;
  } else {
    const a = of?.[goal.metric];
    const b = bs?.[goal.metric];
    if (a !== undefined && b !== undefined && b > 0) value = a / b;
  }
  if (value === null) return { of: goal.of, text: goal.text, value, met: null };
  const met = (goal.min === undefined || value >= goal.min) && (goal.max === undefined || value <= goal.max);
  return { of: goal.of, text: goal.text, value, met };
}

export function summarize(scenarios: readonly Scenario[], measurements: Measurement[]): ScenarioSummary[] {
  return scenarios.map((sc) => {
    const s: ScenarioSummary = {
      id: sc.id,
      title: sc.title,
      metric: sc.metric,
      unit: sc.unit,
      higherIsBetter: sc.higherIsBetter,
      targets: {},
      ratios: {},
      goals: [],
    };
    for (const t of sc.targets) {
      const runs = measurements.filter((m) => m.scenario === sc.id && m.target === t);
      if (runs.length) s.targets[t] = summarizeTarget(runs);
    }
    for (const t of ['node', 'proxy', 'node-b', 'cluster', 'node-r', 'relay-c', 'relay-node'] as const) {
      const base = s.targets[referenceOf(t)]?.median[sc.metric];
      const v = s.targets[t]?.median[sc.metric];
      if (v !== undefined && base !== undefined && base > 0) s.ratios[t] = v / base;
    }
    s.goals = sc.goals.map((g) => evaluateGoal(g, s));
    return s;
  });
}

// ---- markdown ---------------------------------------------------------------------------------

function fmt(v: number | undefined, unit = ''): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (unit === 's') return v < 1 ? `${(v * 1000).toFixed(v < 0.01 ? 2 : 0)} ms` : `${v.toFixed(2)} s`;
  if (unit === 'MiB') return `${v.toFixed(0)} MiB`;
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(1);
}

function cell(s: ScenarioSummary, t: TargetName): string {
  const x = s.targets[t];
  if (!x) return '';
  if (x.skipped) return 'n/a¹';
  if (x.runs === 0) return `failed²`;
  const v = fmt(x.median[s.metric], s.unit);
  return x.median.capped ? `${v}³` : v;
}

const UNLOGGED: ReadonlySet<TargetName> = new Set(['node', 'proxy']);
/** Every single-server target; node-r (a replicated pair) has its own table (bench/replication.ts). */
const LATENCY_ROWS: readonly TargetName[] = TARGET_NAMES.filter((t) => t !== 'node-r');

const ratio = (r: number | undefined): string => (r === undefined ? '' : `${r.toFixed(2)}×`);

/** The goals of the targets in `of` (default: the unlogged ones of the first table). */
function goalText(s: ScenarioSummary, of: ReadonlySet<TargetName> = UNLOGGED): string {
  return s.goals
    .filter((g) => of.has(g.of ?? 'node'))
    .map((g) => {
      if (g.value === null) return `${g.text}: –`;
      const v = g.text.includes('µs') ? `${g.value.toFixed(0)} µs` : `${g.value.toFixed(2)}×`;
      return `${g.met ? '✅' : '❌'} ${g.text} (${v})`;
    })
    .join('<br>');
}

export function markdown(r: BenchReport): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `Run \`${r.command}\` (${r.mode}, ${r.rounds} round${r.rounds > 1 ? 's' : ''}, medians) on ${r.finishedAt}.`,
  );
  lines.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Linux ${m.kernel}, Node ${m.node}, ` +
      `${m.beanstalkd}, binlogs on ${m.tmpFs}; load average ${m.loadAverageAtStart.join(' ')} at start` +
      `${m.loadAverageAtEnd ? `, ${m.loadAverageAtEnd.join(' ')} at end` : ''}. Generator: ${r.generator.note}.`,
  );
  lines.push('');
  lines.push(
    '| scenario | unit | beanstalkd | stalkd node | node ÷ bs | proxy + 3 nodes | proxy ÷ bs | generator ceiling⁴ | Node floor⁵ | Node onread floor⁶ | goals |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const s of r.scenarios) {
    if (s.targets['node-r']) continue;
    lines.push(
      `| ${s.id} | ${s.unit}${s.higherIsBetter ? '' : ' (lower is better)'} | ${cell(s, 'beanstalkd')} | ${cell(s, 'node')} | ` +
        `${ratio(s.ratios.node)} | ${cell(s, 'proxy')} | ${ratio(s.ratios.proxy)} | ${cell(s, 'null')} | ${cell(s, 'node-null')} | ${cell(s, 'node-onread')} | ${goalText(s)} |`,
    );
  }
  const logged = loggedTable(r);
  if (logged) lines.push('', logged);
  const hop = hopTable(r);
  if (hop) lines.push('', hop);
  const replicated = replicationTable(r);
  if (replicated) lines.push('', replicated);
  lines.push('');
  lines.push(latencyTable(r));
  lines.push('');
  lines.push(cpuTable(r));
  lines.push('');
  lines.push(...notes(r));
  return `${lines.join('\n')}\n`;
}

/**
 * Issue 18's table: the targets as users deploy them, each with a binlog at its default fsync
 * (-f 50), beside the CPU each spent per operation (all server processes: the cluster's four).
 */
function loggedTable(r: BenchReport): string {
  const rows = r.scenarios.filter(
    (s) => !s.targets['node-r'] && (s.targets['node-b'] || s.targets.cluster || s.targets['beanstalkd-b']),
  );
  if (!rows.length) return '';
  const out = [
    '| with binlogs (`-b`, default `-f 50`) | unit | beanstalkd -b | stalkd node -b | node -b ÷ bs | cluster (proxy + 3 nodes -b) | cluster ÷ bs | server CPU µs/op: bs / node / cluster | goals |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const s of rows) {
    const us = (t: TargetName): string => fmt(s.targets[t]?.median.serverCpuUsPerOp);
    out.push(
      `| ${s.id} | ${s.unit} | ${cell(s, 'beanstalkd-b')} | ${cell(s, 'node-b')} | ${ratio(s.ratios['node-b'])} | ` +
        `${cell(s, 'cluster')} | ${ratio(s.ratios.cluster)} | ${us('beanstalkd-b')} / ${us('node-b')} / ${us('cluster')} | ` +
        `${goalText(s, LOGGED)} |`,
    );
  }
  return out.join('\n');
}

const LOGGED: ReadonlySet<TargetName> = new Set(['node-b', 'cluster']);
const HOP: ReadonlySet<TargetName> = new Set(['relay-c', 'relay-node']);

/**
 * The proxy hop floor: beanstalkd -b behind a relay that only copies bytes (C, Node) beside the
 * cluster, all against beanstalkd -b, and what each adds to ping-pong's cycle p50 — the part of the
 * cluster's latency any process in the middle costs on this machine, and the part that is stalkd's.
 */
function hopTable(r: BenchReport): string {
  const rows = r.scenarios.filter((s) => s.targets['relay-c'] || s.targets['relay-node']);
  if (!rows.length) return '';
  const out = [
    '| proxy hop floor (beanstalkd -b behind one more process) | unit | beanstalkd -b | C relay | C relay ÷ bs | Node relay | Node relay ÷ bs | cluster | cluster ÷ bs | server CPU µs/op: bs / C relay / Node relay / cluster |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of rows) {
    const us = (t: TargetName): string => fmt(s.targets[t]?.median.serverCpuUsPerOp);
    out.push(
      `| ${s.id} | ${s.unit} | ${cell(s, 'beanstalkd-b')} | ${cell(s, 'relay-c')} | ${ratio(s.ratios['relay-c'])} | ` +
        `${cell(s, 'relay-node')} | ${ratio(s.ratios['relay-node'])} | ${cell(s, 'cluster')} | ${ratio(s.ratios.cluster)} | ` +
        `${us('beanstalkd-b')} / ${us('relay-c')} / ${us('relay-node')} / ${us('cluster')} |`,
    );
  }
  const pp = r.scenarios.find((s) => s.id === 'ping-pong');
  const base = pp?.targets['beanstalkd-b']?.median.cycleP50Us;
  if (pp && base !== undefined) {
    const added = (t: TargetName, label: string): string[] => {
      const v = pp.targets[t]?.median.cycleP50Us;
      return v === undefined
        ? []
        : [`${label} ${v - base >= 0 ? '+' : '−'}${Math.abs(v - base).toFixed(0)} µs`];
    };
    const parts = [
      ...added('cluster', 'the cluster'),
      ...added('relay-c', 'a C relay'),
      ...added('relay-node', 'a Node relay'),
    ];
    out.push(
      '',
      `Ping-pong cycle p50 over beanstalkd -b (${fmt(base)} µs): ${parts.join(', ')} ` +
        '(each cycle is three round trips, so a hop is crossed six times).',
    );
  }
  return out.join('\n');
}

/**
 * Issue 16's table: `stalkd node -b` with one synchronous standby (node-r: both processes' CPU)
 * beside the same node unreplicated, the primary's replication lag sampled under the load, and the
 * full copy.
 */
function replicationTable(r: BenchReport): string {
  const rows = r.scenarios.filter((s) => s.targets['node-r'] && s.id !== 'repl-full-copy-1m');
  const out: string[] = [];
  if (rows.length) {
    out.push(
      '| replication (K = 1) | unit | node -b | node -b + 1 sync standby | ÷ node -b | server CPU µs/op: node -b / primary + standby | lag p50 / p99 / max (ms), records p99 | goals |',
      '|---|---|---:|---:|---:|---:|---:|---|',
    );
    for (const s of rows) {
      const x = s.targets['node-r']?.median ?? {};
      const us = (t: TargetName): string => fmt(s.targets[t]?.median.serverCpuUsPerOp);
      out.push(
        `| ${s.id} | ${s.unit} | ${cell(s, 'node-b')} | ${cell(s, 'node-r')} | ${ratio(s.ratios['node-r'])} | ` +
          `${us('node-b')} / ${fmt(x.primaryCpuUsPerOp)} + ${fmt(x.standbyCpuUsPerOp)} | ${fmt(x.lagP50Ms)} / ${fmt(x.lagP99Ms)} / ${fmt(x.lagMaxMs)}, ${fmt(x.lagRecordsP99)} | ` +
          `${goalText(s, REPLICATED)} |`,
      );
    }
  }
  const copy = r.scenarios.find((s) => s.id === 'repl-full-copy-1m')?.targets['node-r'];
  if (copy?.runs) {
    const c = copy.median;
    out.push(
      '',
      `Full copy to a wiped standby: ${fmt(c.jobs)} jobs, log ${fmt(c.logMiB, 'MiB')}, in ${fmt(c.seconds, 's')} ` +
        `(${fmt((c.logMiB ?? 0) / (c.seconds ?? 1))} MiB/s); the primary's RSS ${fmt(c.primaryRssMiB, 'MiB')} grew by ` +
        `${fmt(c.primaryRssGrowthMiB)} MiB at most during the copy; the standby ended at ${fmt(c.standbyRssMiB, 'MiB')}.`,
    );
  }
  return out.join('\n');
}

const REPLICATED: ReadonlySet<TargetName> = new Set(['node-r']);

function latencyTable(r: BenchReport): string {
  const s = r.scenarios.find((x) => x.id === 'ping-pong');
  if (!s) return '';
  const rows = [
    '| ping-pong latency (µs) | cycle p50 | cycle p99 | cycle p999 | request p50 | request p99 |',
  ];
  rows.push('|---|---:|---:|---:|---:|---:|');
  for (const t of LATENCY_ROWS) {
    const x = s.targets[t]?.median;
    if (!x || x.cycleP50Us === undefined) continue;
    rows.push(
      `| ${t} | ${fmt(x.cycleP50Us)} | ${fmt(x.cycleP99Us)} | ${fmt(x.cycleP999Us)} | ${fmt(x.requestP50Us)} | ${fmt(x.requestP99Us)} |`,
    );
  }
  return rows.join('\n');
}

function cpuTable(r: BenchReport): string {
  const rows = [
    `| CPU in the measured phase: cores busy (server / generator), server CPU µs per op | ${LATENCY_ROWS.join(' | ')} |`,
  ];
  rows.push(`|---|${LATENCY_ROWS.map(() => '---:').join('|')}|`);
  for (const s of r.scenarios) {
    if (s.unit === 'MiB' || s.id.startsWith('replay') || s.targets['node-r']) continue;
    const c = (t: TargetName): string => {
      const x = s.targets[t];
      if (!x || x.serverCores === undefined) return '';
      const us = x.median.serverCpuUsPerOp;
      const perOp = us === undefined ? '' : ` · ${fmt(us)} µs`;
      return `${x.serverCores.toFixed(2)} / ${(x.generatorCores ?? 0).toFixed(2)}${perOp}`;
    };
    rows.push(`| ${s.id} | ${LATENCY_ROWS.map(c).join(' | ')} |`);
  }
  return rows.join('\n');
}

function notes(r: BenchReport): string[] {
  const out: string[] = [];
  const skipped = new Set<string>();
  const failed: string[] = [];
  for (const s of r.scenarios)
    for (const [t, x] of Object.entries(s.targets)) {
      if (x?.skipped) skipped.add(`${s.id}/${t}: ${x.skipped}`);
      for (const e of x?.errors ?? []) failed.push(`${s.id}/${t}: ${e.slice(0, 300)}`);
    }
  out.push(`¹ not run: ${skipped.size ? [...skipped].join('; ') : 'none'}.`);
  const counted = new Map<string, number>();
  for (const f of failed) counted.set(f, (counted.get(f) ?? 0) + 1);
  const failures = [...counted].map(([f, n]) => (n > 1 ? `${f} (${n} rounds)` : f));
  out.push(`² failed runs: ${failures.length ? failures.join('; ') : 'none'}.`);
  out.push(
    '³ at least one round hit the time cap before its count: the rate is over the operations that completed.',
  );
  out.push(
    '⁴ the same generator against its do-nothing server (`loadgen --mode serve`), which answers from prebuilt buffers: ' +
      'the most this generator can drive on this machine in that scenario. Where it is near the other columns ' +
      '(one request in flight per connection, ping-pong, 64 KiB bodies) neither it nor the server is CPU-bound ' +
      '(see the CPU table): those runs are bound by loopback round trips and wake-ups, the same for every target.',
  );
  out.push(
    "⁵ the Node generator's do-nothing server (`bench/loadgen-node.ts --mode serve`: one Node process, prebuilt " +
      'replies, one write per read) driven by the same generator: the most any Node server does here. stalkd node ' +
      "below it is stalkd's own work; the Node floor below beanstalkd is the Node runtime's per-event cost.",
  );
  out.push(
    "⁶ bench/floor-server.ts: a do-nothing server reading with `net`'s `onread` option into one reused buffer and " +
      "writing each connection's replies of a loop turn in one write (no Buffer per read, no stream events): the " +
      'floor for a Node server that avoids the stream machinery.',
  );
  const scrape = r.scenarios.find((s) => s.id === 'scrape-10k')?.targets.node?.median;
  if (scrape?.httpSeconds !== undefined)
    out.push(
      `GET /metrics on stalkd node with 10,000 tubes: ${fmt(scrape.httpSeconds, 's')} (${fmt(scrape.httpBytes)} bytes).`,
    );
  const mem = r.scenarios.find((s) => s.id === 'memory-1m');
  if (mem) {
    const per = (t: TargetName): string => fmt(mem.targets[t]?.median.bytesPerJob);
    out.push(
      `Memory per job above the idle baseline: beanstalkd ${per('beanstalkd')} B, stalkd node ${per('node')} B, ` +
        `proxy + 3 nodes ${per('proxy')} B (jobs: ${fmt(mem.targets.beanstalkd?.median.jobs)}).`,
    );
  }
  return out;
}
