/**
 * The proxy's routing, as one object every session asks: which node owns a tube (puts go there)
 * and which nodes hold its jobs (reserve, peek, kick, stats-tube would consult them all). It wraps
 * the current Placement and can be given a new one as a whole (`swap`); `version` changes with
 * every swap, so whatever a session derived from the old routing (the nodes its watch list spans)
 * is recomputed. Today one placement is built at start-up and a tube is held by its owner alone.
 */
import type { Placement } from './ring';
import type { TopologyNode } from './topology';

export class Routing {
  private placementNow: Placement;
  /** Bumped by every swap. */
  version = 0;

  constructor(placement: Placement) {
    this.placementNow = placement;
  }

  get placement(): Placement {
    return this.placementNow;
  }

  /** Routes by `placement` from now on. */
  swap(placement: Placement): void {
    this.placementNow = placement;
    this.version++;
  }

  /** Index of the node that owns `tube`. */
  ownerOf(tube: string): number {
    return this.placementNow.ownerOf(tube).index;
  }

  /** Every node that may hold jobs of `tube`, owner first. */
  holdersOf(tube: string): number[] {
    return this.placementNow.ownersOf(tube).map((node: TopologyNode) => node.index);
  }
}
