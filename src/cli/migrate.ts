/**
 * `stalkd migrate (--topology FILE | --nodes …) [--dry-run] [--json] [--wait SECS]`: moves every job
 * that sits on a node which does not own its tube (after a topology change, on a leaving node) to
 * the owner, tube by tube (src/client/tube-move.ts), and reports whether each leaving node is empty.
 * Safe to stop and run again: each step starts from what the nodes hold (docs/migration.md).
 */
import { type Command, Option } from 'commander';
import { Client } from '../client/client';
import { type MoveStep, moveTube } from '../client/tube-move';
import type { TubeStats } from '../protocol/stats';
import { Placement } from '../proxy/ring';
import type { Topology, TopologyNode } from '../proxy/topology';
import { ProgressBar } from './client/progress-bar';
import { parseInteger } from './options';
import { topologyFromOptions } from './proxy';

interface MigrateOptions {
  nodes?: string;
  topology?: string;
  dryRun?: boolean;
  json?: boolean;
  wait: number;
}

/** Jobs of one tube on a node that does not own it. */
export interface PlannedMove {
  tube: string;
  from: TopologyNode;
  to: TopologyNode;
  jobs: number;
  reserved: number;
}

function jobsIn(stats: TubeStats): number {
  return (
    stats['current-jobs-ready'] +
    stats['current-jobs-delayed'] +
    stats['current-jobs-buried'] +
    stats['current-jobs-reserved']
  );
}

function connectTo(node: TopologyNode): Promise<Client> {
  return Client.connect({ host: node.host, port: node.port, timeoutMs: 5000 });
}

/** What sits where it does not belong under `topology`. */
export async function planMoves(topology: Topology): Promise<PlannedMove[]> {
  const placement = new Placement(topology);
  const plan: PlannedMove[] = [];
  for (const from of topology.nodes) {
    const client = await connectTo(from);
    try {
      for (const tube of await client.listTubes()) {
        const to = placement.ownerOf(tube);
        if (to.index === from.index) continue;
        const stats = await client.statsTube(tube);
        if (stats && jobsIn(stats) > 0)
          plan.push({ tube, from, to, jobs: jobsIn(stats), reserved: stats['current-jobs-reserved'] });
      }
    } finally {
      await client.close();
    }
  }
  return plan;
}

/** Jobs a node holds in all. */
async function jobsOnNode(node: TopologyNode): Promise<number> {
  const client = await connectTo(node);
  try {
    const s = await client.stats();
    return (
      s['current-jobs-ready'] +
      s['current-jobs-delayed'] +
      s['current-jobs-buried'] +
      s['current-jobs-reserved']
    );
  } finally {
    await client.close();
  }
}

type Emit = (event: Record<string, unknown>, text: string) => void;

async function runMoves(plan: PlannedMove[], waitMs: number, emit: Emit, bar?: ProgressBar): Promise<number> {
  const total = plan.reduce((sum, p) => sum + p.jobs, 0);
  let done = 0;
  let reservedLeft = 0;
  for (const p of plan) {
    const [source, dest] = await Promise.all([connectTo(p.from), connectTo(p.to)]);
    try {
      const onStep = (step: MoveStep): void => {
        done++;
        bar?.update(done, total);
        emit({ event: 'moved', ...step, from: p.from.name, to: p.to.name }, '');
      };
      const result = await moveTube(source, dest, p.tube, { waitMs, onStep });
      reservedLeft += result.reservedLeft;
      emit(
        {
          event: 'tube',
          tube: p.tube,
          from: p.from.name,
          to: p.to.name,
          moved: result.moved,
          reservedLeft: result.reservedLeft,
        },
        `${p.tube}: ${result.moved} jobs ${p.from.name} → ${p.to.name}` +
          (result.reservedLeft ? ` (${result.reservedLeft} still reserved)` : ''),
      );
    } finally {
      await Promise.all([source.close(), dest.close()]);
    }
  }
  bar?.finish(done, total);
  return reservedLeft;
}

async function reportLeaving(topology: Topology, emit: Emit): Promise<void> {
  for (const node of topology.nodes.filter((n) => n.leaving)) {
    const jobs = await jobsOnNode(node);
    emit(
      { event: 'leaving', node: node.name, jobs, empty: jobs === 0 },
      jobs === 0
        ? `node ${node.name} holds nothing: stop it and remove it from the topology`
        : `node ${node.name} still holds ${jobs} jobs`,
    );
  }
}

export async function runMigrate(opts: MigrateOptions): Promise<number> {
  const topology = topologyFromOptions(opts);
  const emit: Emit = (event, text) => {
    if (opts.json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else if (text) process.stdout.write(`${text}\n`);
  };
  const plan = await planMoves(topology);
  for (const p of plan) {
    emit(
      { event: 'plan', tube: p.tube, from: p.from.name, to: p.to.name, jobs: p.jobs, reserved: p.reserved },
      `plan: ${p.tube}: ${p.jobs} jobs ${p.from.name} → ${p.to.name}`,
    );
  }
  let reservedLeft = 0;
  if (!opts.dryRun) {
    const bar = !opts.json && process.stderr.isTTY ? new ProgressBar(process.stderr, 'moving') : undefined;
    reservedLeft = await runMoves(plan, opts.wait * 1000, emit, bar);
  }
  await reportLeaving(topology, emit);
  const left = opts.dryRun ? plan.reduce((sum, p) => sum + p.jobs, 0) : (await planMoves(topology)).length;
  emit(
    { event: 'done', dryRun: Boolean(opts.dryRun), tubes: plan.length, reservedLeft, tubesLeft: left },
    opts.dryRun ? `${plan.length} tubes to move (dry run)` : `done: ${left} tubes still on non-owners`,
  );
  return opts.dryRun || left === 0 ? 0 : 2;
}

export function registerMigrateCommand(program: Command): Command {
  return program
    .command('migrate')
    .description('move every job on a node that does not own its tube to the owner (docs/migration.md)')
    .addOption(new Option('--nodes <list>', 'nodes as HOST:PORT[,NAME=HOST:PORT…]; index = position'))
    .addOption(
      new Option('--topology <file>', 'cluster description (cluster/README.md)').env('STALKD_TOPOLOGY'),
    )
    .addOption(new Option('--dry-run', 'print what would move, move nothing'))
    .addOption(new Option('--json', 'one JSON line per step'))
    .addOption(
      new Option('--wait <secs>', 'wait this long for reserved jobs to be released')
        .argParser(parseInteger(0, 86_400))
        .default(30),
    )
    .action(async (opts: MigrateOptions) => {
      process.exitCode = await runMigrate(opts);
    });
}
