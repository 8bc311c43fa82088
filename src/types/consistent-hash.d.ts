/** Types for consistent-hash 1.2.2 (the package ships none). Only what src/proxy/ring.ts uses. */
declare module 'consistent-hash' {
  interface ConsistentHashOptions {
    /** Ring size: control points live in [0, range). Default 100003. */
    range?: number;
    /** Points per node when add() gets none. Default 40. */
    controlPoints?: number;
    distribution?: 'random' | 'uniform';
  }
  class ConsistentHash<N = string> {
    constructor(options?: ConsistentHashOptions);
    nodeCount: number;
    keyCount: number;
    /** Adds a node with explicit control points (deterministic) or `n` random ones. */
    add(node: N, n?: number, points?: number[]): this;
    remove(node: N): this;
    /** The node owning `name`, or null on an empty ring. */
    get(name: string): N | null;
    get(name: string, count: number): N[] | null;
    getNodes(): N[];
    getPoints(node: N): number[] | undefined;
  }
  export = ConsistentHash;
}
