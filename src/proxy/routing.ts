/**
 * The proxy's routing, as one object every session asks: which node owns a tube (puts go there)
 * and which nodes hold its jobs (reserve, peek-*, kick, stats-tube and pause-tube consult them all).
 *
 * Owner: the current Placement (pins, then the ring over the nodes that are not leaving), replaced
 * as a whole by a topology reload (`swap`). Previous owners: nodes that hold jobs of a tube they do
 * not own — after a topology change, while `stalkd migrate` moves them, or on a leaving node. They
 * are learnt from the nodes themselves (previous-owners.ts scans them on every topology change and
 * periodically), so a restarted proxy finds them again: the proxy keeps nothing a restart loses.
 *
 * `version` changes with every swap and every change of the previous owners, so whatever a session
 * derived from the old routing (the nodes its watch list spans) is recomputed.
 */
import type { Placement } from './ring';

/** tube → indexes of the nodes holding its jobs without owning it, ascending. */
export type PreviousOwners = ReadonlyMap<string, readonly number[]>;

const NONE: readonly number[] = [];

export class Routing {
  private placementNow: Placement;
  private previous: PreviousOwners = new Map();
  /** Bumped by every swap and every change of the previous owners. */
  version = 0;

  constructor(placement: Placement) {
    this.placementNow = placement;
  }

  get placement(): Placement {
    return this.placementNow;
  }

  /** Routes by `placement` (and `previous`, scanned against it) from now on. */
  swap(placement: Placement, previous: PreviousOwners = this.previous): void {
    this.placementNow = placement;
    this.previous = previous;
    this.version++;
  }

  /** New previous owners (a scan's result); true when they differ from the current ones. */
  setPrevious(previous: PreviousOwners): boolean {
    if (samePrevious(this.previous, previous)) return false;
    this.previous = previous;
    this.version++;
    return true;
  }

  /** Index of the node that owns `tube`. */
  ownerOf(tube: string): number {
    return this.placementNow.ownerOf(tube).index;
  }

  /** Nodes holding jobs of `tube` without owning it (ascending; usually none). */
  previousOf(tube: string): readonly number[] {
    const list = this.previous.get(tube);
    if (list === undefined) return NONE;
    const owner = this.ownerOf(tube);
    return list.includes(owner) ? list.filter((i) => i !== owner) : list;
  }

  /** Every node that may hold jobs of `tube`: the owner first, then its previous owners. */
  holdersOf(tube: string): number[] {
    return [this.ownerOf(tube), ...this.previousOf(tube)];
  }

  /** True when node `index` owns `tube` or holds some of its jobs. */
  holds(index: number, tube: string): boolean {
    return this.ownerOf(tube) === index || this.previousOf(tube).includes(index);
  }

  /** Every tube with previous owners, and those owners. */
  previousOwners(): PreviousOwners {
    return this.previous;
  }
}

function samePrevious(a: PreviousOwners, b: PreviousOwners): boolean {
  if (a.size !== b.size) return false;
  for (const [tube, list] of a) {
    const other = b.get(tube);
    if (!other || other.length !== list.length || other.some((v, i) => v !== list[i])) return false;
  }
  return true;
}
