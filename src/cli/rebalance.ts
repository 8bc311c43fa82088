/**
 * `stalkd rebalance --suggest (--topology FILE | --nodes …) [--json]`: pins that would even out the
 * load the nodes observed, for the operator to put in the topology's `pins` (then `stalkd
 * migrate` moves the pinned tubes: docs/migration.md, "Rebalancing").
 *
 * A tube's load is what the nodes report for it in `stats-tube`: `total-jobs` (jobs put since the
 * tube appeared there) summed over every node holding it; it is charged to the tube's owner under
 * the topology. Greedy: while moving one tube from the busiest node to the idlest lowers the
 * busiest node's load without making the idlest one busier than it was, the largest such tube is
 * pinned there. The ring is fair over thousands of names, not over a handful (cluster/README.md);
 * this evens out the handful that carry the traffic.
 */
import { type Command, Option } from 'commander';
import { Client } from '../client/client';
import { Placement } from '../proxy/ring';
import type { Topology, TopologyNode } from '../proxy/topology';
import { topologyFromOptions } from './topology-options';

interface RebalanceOptions {
  nodes?: string;
  topology?: string;
  suggest?: boolean;
  json?: boolean;
}

export interface Suggestion {
  /** New pins: tube → node name. */
  pins: Map<string, string>;
  /** Load per node name, now and with the pins. */
  before: Map<string, number>;
  after: Map<string, number>;
}

/** The pins that even out `loads` (tube → observed load) over the topology's owning nodes. */
export function suggestPins(topology: Topology, loads: ReadonlyMap<string, number>): Suggestion {
  const placement = new Placement(topology);
  const owners = topology.nodes.filter((n) => !n.leaving);
  const load = new Map<string, number>(owners.map((n) => [n.name, 0]));
  const tubesOf = new Map<string, Map<string, number>>(owners.map((n) => [n.name, new Map()]));
  for (const [tube, l] of loads) {
    const owner = placement.ownerOf(tube).name;
    load.set(owner, (load.get(owner) ?? 0) + l);
    tubesOf.get(owner)?.set(tube, l);
  }
  const before = new Map(load);
  const pins = new Map<string, string>();
  for (let step = 0; step < loads.size; step++) {
    const ranked = [...load].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const [busiest, high] = ranked[0] ?? ['', 0];
    const [idlest, low] = ranked[ranked.length - 1] ?? ['', 0];
    // Moving a tube of load l helps only when l < high - low (both ends end up below `high`).
    let best: [string, number] | undefined;
    for (const [tube, l] of tubesOf.get(busiest) ?? [])
      if (l > 0 && l < high - low && (!best || l > best[1] || (l === best[1] && tube < best[0])))
        best = [tube, l];
    if (!best) break;
    const [tube, l] = best;
    tubesOf.get(busiest)?.delete(tube);
    tubesOf.get(idlest)?.set(tube, l);
    load.set(busiest, high - l);
    load.set(idlest, low + l);
    pins.set(tube, idlest);
  }
  return { pins, before, after: load };
}

/** Each tube's `total-jobs`, summed over the nodes that hold it. */
export async function observedLoads(nodes: readonly TopologyNode[]): Promise<Map<string, number>> {
  const loads = new Map<string, number>();
  for (const node of nodes) {
    const client = await Client.connect({ host: node.host, port: node.port, timeoutMs: 5000 });
    try {
      for (const tube of await client.listTubes()) {
        const stats = await client.statsTube(tube);
        if (stats) loads.set(tube, (loads.get(tube) ?? 0) + stats['total-jobs']);
      }
    } finally {
      await client.close();
    }
  }
  return loads;
}

function shares(load: ReadonlyMap<string, number>): string {
  const total = [...load.values()].reduce((a, b) => a + b, 0) || 1;
  return [...load].map(([node, l]) => `${node} ${Math.round((100 * l) / total)} %`).join(', ');
}

export async function runRebalance(opts: RebalanceOptions): Promise<number> {
  if (!opts.suggest) {
    process.stderr.write('stalkd rebalance: only --suggest exists (pins for you to apply)\n');
    return 2;
  }
  const topology = topologyFromOptions(opts);
  const s = suggestPins(topology, await observedLoads(topology.nodes));
  if (opts.json) {
    const out = {
      pins: Object.fromEntries(s.pins),
      before: Object.fromEntries(s.before),
      after: Object.fromEntries(s.after),
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  process.stdout.write(`load now: ${shares(s.before)}\n`);
  if (s.pins.size === 0) {
    process.stdout.write('no pin would even it out further\n');
    return 0;
  }
  for (const [tube, node] of s.pins) process.stdout.write(`pin ${tube} → ${node}\n`);
  process.stdout.write(`load with these pins: ${shares(s.after)}\n`);
  const merged = { ...Object.fromEntries(topology.pins), ...Object.fromEntries(s.pins) };
  process.stdout.write(
    `add to the topology, then run stalkd migrate:\n  "pins": ${JSON.stringify(merged)}\n`,
  );
  return 0;
}

export function registerRebalanceCommand(program: Command): Command {
  return program
    .command('rebalance')
    .description('suggest pins that even out the load the nodes observed (docs/migration.md)')
    .addOption(new Option('--suggest', 'print the pins (nothing is changed)'))
    .addOption(new Option('--nodes <list>', 'nodes as HOST:PORT[,NAME=HOST:PORT…]; index = position'))
    .addOption(
      new Option('--topology <file>', 'cluster description (cluster/README.md)').env('STALKD_TOPOLOGY'),
    )
    .addOption(new Option('--json', 'one JSON object: pins, load before and after'))
    .action(async (opts: RebalanceOptions) => {
      process.exitCode = await runRebalance(opts);
    });
}
