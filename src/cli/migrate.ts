/**
 * `stalkd migrate (--topology FILE | --nodes …) [--dry-run] [--json] [--wait SECS]`: moves every job
 * that sits on a node which does not own its tube (after a topology change, on a leaving node) to
 * the owner, tube by tube (src/client/tube-move.ts), and reports whether each leaving node is empty.
 * Safe to stop and run again: each step starts from what the nodes hold (docs/migration.md).
 */
import { type Command, Option } from 'commander';
import { Client } from '../client/client';
import { listMoving, moveJob, speaksMoves } from '../client/job-move';
import { type MoveStep, moveTube, moveTubeOnce } from '../client/tube-move';
import type { TubeStats } from '../protocol/stats';
import { Placement } from '../proxy/ring';
import type { Topology, TopologyNode } from '../proxy/topology';
import { ProgressBar } from './client/progress-bar';
import { parseInteger } from './options';
import { topologyFromOptions } from './topology-options';

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

/** What sits where it does not belong under `topology` (of tube `only`, when given). */
export async function planMoves(topology: Topology, only?: string): Promise<PlannedMove[]> {
  const placement = new Placement(topology);
  const plan: PlannedMove[] = [];
  for (const from of topology.nodes) {
    const client = await connectTo(from);
    try {
      for (const tube of await client.listTubes()) {
        if (only !== undefined && tube !== only) continue;
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

/** Jobs a node holds in all, those being moved out included. */
async function jobsOnNode(node: TopologyNode): Promise<number> {
  const client = await connectTo(node);
  try {
    const s = await client.stats();
    const moving = (await speaksMoves(client)) ? (await listMoving(client)).length : 0;
    return (
      s['current-jobs-ready'] +
      s['current-jobs-delayed'] +
      s['current-jobs-buried'] +
      s['current-jobs-reserved'] +
      moving
    );
  } finally {
    await client.close();
  }
}

/** One step of a migration: the JSON line of `--json`, and its text for a terminal ('' = none). */
export type Emit = (event: Record<string, unknown>, text: string) => void;

/**
 * Connections to the topology's nodes by name, opened when first asked for, each asked once whether
 * it speaks stalkd's move extensions.
 */
class NodeLinks {
  private readonly links = new Map<string, Promise<{ client: Client; stalkd: boolean }>>();

  constructor(private readonly topology: Topology) {}

  link(name: string): Promise<{ client: Client; stalkd: boolean }> | undefined {
    const node = this.topology.nodes.find((n) => n.name === name);
    if (node === undefined) return undefined;
    let link = this.links.get(name);
    if (link === undefined) {
      link = connectTo(node).then(async (client) => ({ client, stalkd: await speaksMoves(client) }));
      this.links.set(name, link);
    }
    return link;
  }

  async client(name: string): Promise<Client | undefined> {
    return (await this.link(name))?.client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map(async (l) => (await l).client.close()));
  }
}

/**
 * Finishes the moves a stopped run left (jobs shown as moving on their source: docs/migration.md),
 * each to the node it was going to. Returns how many could not be finished (their destination is
 * not in the topology).
 */
async function finishLeftovers(topology: Topology, links: NodeLinks, emit: Emit): Promise<number> {
  let stuck = 0;
  for (const node of topology.nodes) {
    const { client, stalkd } = await links.link(node.name)!;
    if (!stalkd) continue;
    for (const id of await listMoving(client)) {
      const result = await moveJob(client, node.name, id, '-', (name) => links.client(name));
      if (result === 'unknown-destination') {
        stuck++;
        emit(
          { event: 'stuck', from: node.name, id },
          `job ${id} on ${node.name} moves to a node not in the topology`,
        );
      } else if (typeof result !== 'string')
        emit({ event: 'resumed', ...result, from: node.name, to: result.dest }, '');
    }
  }
  return stuck;
}

async function runMoves(
  plan: PlannedMove[],
  links: NodeLinks,
  waitMs: number,
  emit: Emit,
  bar?: ProgressBar,
): Promise<number> {
  const total = plan.reduce((sum, p) => sum + p.jobs, 0);
  let done = 0;
  let reservedLeft = 0;
  for (const p of plan) {
    const [source, dest] = await Promise.all([links.link(p.from.name)!, links.link(p.to.name)!]);
    const onStep = (step: MoveStep): void => {
      done++;
      bar?.update(done, total);
      emit({ event: 'moved', ...step, from: p.from.name, to: p.to.name }, '');
    };
    const options = { waitMs, onStep };
    const result =
      source.stalkd && dest.stalkd
        ? await moveTubeOnce(
            source.client,
            { origin: p.from.name, dest: p.to.name },
            p.tube,
            (name) => links.client(name),
            options,
          )
        : await moveTube(source.client, dest.client, p.tube, options);
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

export interface MigrateRun {
  /** Tubes found on non-owners at the start (a dry run moves nothing). */
  plan: PlannedMove[];
  /** Tubes still on non-owners at the end, plus moves stuck on an unknown destination. */
  left: number;
  reservedLeft: number;
}

/**
 * One migration under `topology`: plan, finish the moves an earlier run left, move each planned
 * tube to its owner, report leaving nodes, plan again. `only` limits it to one tube (the dashboard's
 * "move tube" action); `stalkd migrate` moves every tube.
 */
export async function migrateTopology(
  topology: Topology,
  options: { waitMs: number; emit: Emit; dryRun?: boolean; only?: string; bar?: ProgressBar },
): Promise<MigrateRun> {
  const { emit, only } = options;
  const plan = await planMoves(topology, only);
  for (const p of plan) {
    emit(
      { event: 'plan', tube: p.tube, from: p.from.name, to: p.to.name, jobs: p.jobs, reserved: p.reserved },
      `plan: ${p.tube}: ${p.jobs} jobs ${p.from.name} → ${p.to.name}`,
    );
  }
  let reservedLeft = 0;
  let stuck = 0;
  if (!options.dryRun) {
    const links = new NodeLinks(topology);
    try {
      stuck = await finishLeftovers(topology, links, emit);
      reservedLeft = await runMoves(plan, links, options.waitMs, emit, options.bar);
    } finally {
      await links.close();
    }
  }
  await reportLeaving(topology, emit);
  const left = options.dryRun
    ? plan.reduce((sum, p) => sum + p.jobs, 0)
    : (await planMoves(topology, only)).length + stuck;
  emit(
    { event: 'done', dryRun: Boolean(options.dryRun), tubes: plan.length, reservedLeft, tubesLeft: left },
    options.dryRun ? `${plan.length} tubes to move (dry run)` : `done: ${left} tubes still on non-owners`,
  );
  return { plan, left, reservedLeft };
}

export async function runMigrate(opts: MigrateOptions): Promise<number> {
  const emit: Emit = (event, text) => {
    if (opts.json) process.stdout.write(`${JSON.stringify(event)}\n`);
    else if (text) process.stdout.write(`${text}\n`);
  };
  const bar =
    !opts.dryRun && !opts.json && process.stderr.isTTY
      ? new ProgressBar(process.stderr, 'moving')
      : undefined;
  const run = await migrateTopology(topologyFromOptions(opts), {
    waitMs: opts.wait * 1000,
    emit,
    dryRun: Boolean(opts.dryRun),
    ...(bar ? { bar } : {}),
  });
  return opts.dryRun || run.left === 0 ? 0 : 2;
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
