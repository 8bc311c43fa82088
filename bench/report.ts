/**
 * Medians across rounds, ratios to beanstalkd, the issue's goals, and the markdown tables that
 * bench/results/latest.md and the README quote.
 */
import type { MachineInfo } from './machine';
import type { Measurement } from './measure';
import type { Goal, Scenario } from './scenarios';
import type { TargetName } from './targets';

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

function evaluateGoal(goal: Goal, s: ScenarioSummary): GoalResult {
  const bs = s.targets.beanstalkd?.median;
  const of = s.targets[goal.of]?.median;
  let value: number | null = null;
  if (goal.metric === 'addedP50Us') {
    const direct = s.targets.node?.median.requestP50Us;
    const proxied = of?.requestP50Us;
    if (direct !== undefined && proxied !== undefined) value = proxied - direct;
  } else {
    const a = of?.[goal.metric];
    const b = bs?.[goal.metric];
    if (a !== undefined && b !== undefined && b > 0) value = a / b;
  }
  if (value === null) return { text: goal.text, value, met: null };
  const met = (goal.min === undefined || value >= goal.min) && (goal.max === undefined || value <= goal.max);
  return { text: goal.text, value, met };
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
    const base = s.targets.beanstalkd?.median[sc.metric];
    for (const t of ['node', 'proxy'] as const) {
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

const ratio = (r: number | undefined): string => (r === undefined ? '' : `${r.toFixed(2)}×`);

function goalText(s: ScenarioSummary): string {
  return s.goals
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
    '| scenario | unit | beanstalkd | stalkd node | node ÷ bs | proxy + 3 nodes | proxy ÷ bs | generator ceiling⁴ | Node floor⁵ | goals |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const s of r.scenarios) {
    lines.push(
      `| ${s.id} | ${s.unit}${s.higherIsBetter ? '' : ' (lower is better)'} | ${cell(s, 'beanstalkd')} | ${cell(s, 'node')} | ` +
        `${ratio(s.ratios.node)} | ${cell(s, 'proxy')} | ${ratio(s.ratios.proxy)} | ${cell(s, 'null')} | ${cell(s, 'node-null')} | ${goalText(s)} |`,
    );
  }
  lines.push('');
  lines.push(latencyTable(r));
  lines.push('');
  lines.push(cpuTable(r));
  lines.push('');
  lines.push(...notes(r));
  return `${lines.join('\n')}\n`;
}

function latencyTable(r: BenchReport): string {
  const s = r.scenarios.find((x) => x.id === 'ping-pong');
  if (!s) return '';
  const rows = [
    '| ping-pong latency (µs) | cycle p50 | cycle p99 | cycle p999 | request p50 | request p99 |',
  ];
  rows.push('|---|---:|---:|---:|---:|---:|');
  for (const t of ['beanstalkd', 'node', 'proxy', 'null', 'node-null'] as const) {
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
    '| CPU in the measured phase (cores busy: server / generator) | beanstalkd | stalkd node | proxy + 3 nodes | null | node-null |',
  ];
  rows.push('|---|---:|---:|---:|---:|---:|');
  for (const s of r.scenarios) {
    if (s.unit === 'MiB' || s.id.startsWith('replay')) continue;
    const c = (t: TargetName): string => {
      const x = s.targets[t];
      if (!x || x.serverCores === undefined) return '';
      return `${x.serverCores.toFixed(2)} / ${(x.generatorCores ?? 0).toFixed(2)}`;
    };
    rows.push(
      `| ${s.id} | ${c('beanstalkd')} | ${c('node')} | ${c('proxy')} | ${c('null')} | ${c('node-null')} |`,
    );
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
