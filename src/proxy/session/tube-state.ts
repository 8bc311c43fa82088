/**
 * One client's tube state as one beanstalkd connection keeps it: the used tube and the watch list
 * (beanstalkd's order, swap-remove on ignore), plus what routing derives from it: the nodes that
 * hold a watched tube (its owner and previous owners, routing.ts). `version` changes with every
 * change of the state, `routingVersion` with every change of the routing, so node connections can
 * tell whether they are in line (node-sync.ts).
 */
import type { Routing } from '../routing';

export class TubeState {
  private usedTube = 'default';
  /** The watch list in beanstalkd's order (list-tubes-watched); `watching` mirrors it. */
  private readonly watchList: string[] = ['default'];
  private readonly watching = new Set<string>(['default']);
  /** Bumped by every change of the used tube or the watch list. */
  private stateVersion = 0;
  private watchedNodesCache = { version: -1, routingVersion: -1, nodes: [] as number[] };

  constructor(private readonly routing: Routing) {}

  get used(): string {
    return this.usedTube;
  }

  get watched(): readonly string[] {
    return this.watchList;
  }

  get version(): number {
    return this.stateVersion;
  }

  isWatching(tube: string): boolean {
    return this.watching.has(tube);
  }

  /** `use tube`: true when the used tube changed. */
  use(tube: string): boolean {
    if (tube === this.usedTube) return false;
    this.usedTube = tube;
    this.stateVersion++;
    return true;
  }

  /** `watch tube`: true when the list changed. */
  watch(tube: string): boolean {
    if (this.watching.has(tube)) return false;
    this.watching.add(tube);
    this.watchList.push(tube);
    this.stateVersion++;
    return true;
  }

  /** `ignore tube` (the caller has refused to drop the last one): true when the list changed. */
  ignore(tube: string): boolean {
    const at = this.watchList.indexOf(tube);
    if (at < 0) return false;
    this.watching.delete(tube);
    // beanstalkd removes by moving the last entry into the hole.
    const last = this.watchList.pop() as string;
    if (at < this.watchList.length) this.watchList[at] = last;
    this.stateVersion++;
    return true;
  }

  get routingVersion(): number {
    return this.routing.version;
  }

  ownerOf(tube: string): number {
    return this.routing.ownerOf(tube);
  }

  /** Node `index` owns `tube` or holds some of its jobs. */
  holds(index: number, tube: string): boolean {
    return this.routing.holds(index, tube);
  }

  /** Nodes that may hold jobs of `tube`, owner first. */
  holdersOf(tube: string): number[] {
    return this.routing.holdersOf(tube);
  }

  /** The watched tubes node `index` owns or holds jobs of, in watch-list order. */
  watchedOn(index: number): string[] {
    return this.watchList.filter((t) => this.routing.holds(index, t));
  }

  /** Node indexes holding at least one watched tube, ascending (cached until state or routing changes). */
  watchedNodes(): number[] {
    const cache = this.watchedNodesCache;
    if (cache.version === this.stateVersion && cache.routingVersion === this.routing.version)
      return cache.nodes;
    const set = new Set<number>();
    for (const tube of this.watchList) for (const index of this.routing.holdersOf(tube)) set.add(index);
    const nodes = [...set].sort((a, b) => a - b);
    this.watchedNodesCache = { version: this.stateVersion, routingVersion: this.routing.version, nodes };
    return nodes;
  }

  /** Nodes whose connection carries visible state: owner of the used tube and of each watched tube. */
  stateNodes(): number[] {
    const set = new Set(this.watchedNodes());
    set.add(this.routing.ownerOf(this.usedTube));
    return [...set];
  }
}
