/**
 * What the dashboard needs to know about the cluster, and nothing more: the nodes (address, the
 * proxy's view of their health) and which node owns a tube. A running proxy provides it
 * (src/cli/proxy-view.ts, where proxy and dashboard meet); `top` and tests use `singleEndpointView`
 * for one server (a node, the proxy's client port, or a stock beanstalkd).
 */

export interface DashboardNodeInfo {
  /** Stable node index (the one baked into proxy job ids). */
  index: number;
  name: string;
  host: string;
  port: number;
  /** The owner's view of health (the proxy's probes); the collector adds its own reachability. */
  up: boolean;
  /** `stalkd`, `stock`, `unknown`, or `endpoint` for a single-endpoint view. */
  kind: string;
  /** A shard with replicas (docs/failover.md): its members as the proxy last asked them. */
  shard?: DashboardShardInfo;
}

export interface DashboardShardInfo {
  members: Array<{
    address: string;
    /** primary, standby, candidate; '' when it did not answer x-role. */
    role: string;
    inSync: boolean;
    lagRecords: number;
    lagSeconds: number;
  }>;
  term: number;
  inSyncStandbys: number;
  /** The primary has been failing since (ms since the epoch), or null. */
  failingSinceMs: number | null;
  /** The last failover seen happening (not a primary found at the proxy's start), or null. */
  lastChange: { from: string; to: string; term: number; atMs: number } | null;
}

export interface ClusterView {
  nodes(): DashboardNodeInfo[];
  /** Index of the node that owns `tube`. */
  ownerOf(tube: string): number;
  /**
   * A tube the collector's own connection to node `index` should use and watch instead of
   * `default`, so that it never shows in `default`'s current-using/current-watching; null = stay.
   */
  parkingTubeOf(index: number): string | null;
  /** Tubes never shown (the proxy's parking tube). */
  hiddenTubes: ReadonlySet<string>;
}

/** One beanstalkd endpoint seen as a one-node cluster that owns every tube. */
export function singleEndpointView(host: string, port: number, name = `${host}:${port}`): ClusterView {
  const node: DashboardNodeInfo = { index: 0, name, host, port, up: true, kind: 'endpoint' };
  return {
    nodes: () => [node],
    ownerOf: () => 0,
    parkingTubeOf: () => null,
    hiddenTubes: new Set(),
  };
}
