/**
 * Tube placement: pins first, then a consistent-hash ring built deterministically.
 *
 * consistent-hash places a node's control points with Math.random unless given explicit points, so
 * two proxies built from the same topology would disagree. Here every node gets
 * round(POINTS_PER_WEIGHT · weight) points, point i = md5("<name>#<i>") mod RING_RANGE: a function of
 * the node's name alone, so the ring depends only on the set of (name, weight) pairs — not on node
 * order, addresses or history. When two nodes hash a point to the same value the lexically smaller
 * name owns it (nodes are added in descending name order and the package keeps the last one added).
 *
 * Tube names are md5-mixed before lookup: the package's 24-bit PJW string hash barely mixes short,
 * similar names (`tube-1`, `tube-2`, …), which clusters them on the ring and inflates movement
 * when nodes are added. Lookups are cached per tube (tube sets are small; bounded anyway).
 *
 * Leaving nodes (topology `leaving: true`) get no points and no pins: they own nothing, and hold
 * jobs only until `stalkd migrate` empties them. Which nodes hold jobs of a tube they do not own
 * (previous owners) is not a question of placement but of the nodes' contents: routing.ts.
 */
import { createHash } from 'node:crypto';
import ConsistentHash from 'consistent-hash';
import type { Topology, TopologyNode } from './topology';

/** Points per unit of weight (ketama's 40 × 4 = 160). */
export const POINTS_PER_WEIGHT = 160;
/** Ring size: a prime, large enough that points of 64 weighted nodes rarely collide. */
export const RING_RANGE = 1_000_003;
const CACHE_MAX_TUBES = 100_000;

function md5Uint32(text: string): number {
  return createHash('md5').update(text).digest().readUInt32BE(0);
}

/** The control points of one node: a pure function of its name and weight. */
export function controlPoints(name: string, weight: number): number[] {
  const count = Math.max(1, Math.round(POINTS_PER_WEIGHT * weight));
  const points: number[] = [];
  for (let i = 0; i < count; i++) points.push(md5Uint32(`${name}#${i}`) % RING_RANGE);
  return points;
}

/** The string actually looked up on the ring for a tube (see the header for why it is mixed). */
function ringKey(tube: string): string {
  return createHash('md5').update(tube).digest('hex');
}

export interface PlacementAnswer {
  node: TopologyNode;
  pinned: boolean;
}

export class Placement {
  private readonly ring = new ConsistentHash<TopologyNode>({ range: RING_RANGE });
  private readonly byName = new Map<string, TopologyNode>();
  private readonly cache = new Map<string, TopologyNode>();

  constructor(readonly topology: Topology) {
    const owning = topology.nodes.filter((n) => !n.leaving);
    const sorted = [...owning].sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    for (const node of sorted) {
      this.byName.set(node.name, node);
      this.ring.add(node, undefined, controlPoints(node.name, node.weight));
    }
  }

  /** The node that owns `tube`: its pin if any, else the ring's choice. */
  ownerOf(tube: string): TopologyNode {
    const hit = this.cache.get(tube);
    if (hit) return hit;
    const node = this.explain(tube).node;
    if (this.cache.size >= CACHE_MAX_TUBES) this.cache.clear();
    this.cache.set(tube, node);
    return node;
  }

  explain(tube: string): PlacementAnswer {
    const pin = this.topology.pins.get(tube);
    const pinned = pin === undefined ? undefined : this.byName.get(pin);
    if (pinned) return { node: pinned, pinned: true };
    return { node: this.ringOwnerOf(tube), pinned: false };
  }

  /** The ring's choice, ignoring pins. */
  ringOwnerOf(tube: string): TopologyNode {
    const node = this.ring.get(ringKey(tube));
    if (node === null) throw new Error('placement ring is empty');
    return node;
  }

  /** Tubes looked up so far with their owners (metrics, admin endpoint). */
  knownTubes(): IterableIterator<[string, TopologyNode]> {
    return this.cache.entries();
  }

  /** Every node of the topology, leaving ones included, in file order. */
  get nodes(): readonly TopologyNode[] {
    return this.topology.nodes;
  }
}
