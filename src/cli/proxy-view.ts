/**
 * The dashboard's view of a running proxy: where the dashboard (which knows no proxy internals)
 * and the proxy meet, in the command that runs both.
 */
import type { ClusterView, DashboardShardInfo } from '../dashboard';
import type { ShardStatus } from '../proxy/node/failover';
import type { ProxyServer } from '../proxy/server';
import { PARKING_TUBE } from '../proxy/session/node-sync';

/** The parts of a running proxy the view reads (ProxyServer fits). */
export type ProxyLike = Pick<ProxyServer, 'pool' | 'routing' | 'failover'>;

export function proxyClusterView(proxy: ProxyLike): ClusterView {
  return {
    nodes: () => {
      const shards = new Map(proxy.failover.status().map((s) => [s.index, s]));
      return proxy.pool.all().map((link) => {
        const shard = shards.get(link.node.index);
        return {
          index: link.node.index,
          name: link.node.name,
          host: link.node.host,
          port: link.node.port,
          up: link.up,
          kind: link.kind,
          ...(shard ? { shard: shardInfo(shard) } : {}),
        };
      });
    },
    ownerOf: (tube) => proxy.routing.ownerOf(tube),
    // Same rule as the proxy's own connections (node-sync.ts): only the owner of `default` reports
    // on it, so only there does a parked connection matter.
    parkingTubeOf: (index) => (proxy.routing.ownerOf('default') === index ? PARKING_TUBE : null),
    hiddenTubes: new Set([PARKING_TUBE]),
  };
}

/** A replicated shard as the dashboard shows it (its members' roles and lag, the last failover). */
function shardInfo(s: ShardStatus): DashboardShardInfo {
  return {
    members: s.members.map((m) => ({
      address: m.address,
      role: m.role?.role ?? '',
      inSync: m.role?.inSync ?? false,
      lagRecords: m.role?.lagRecords ?? 0,
      lagSeconds: m.role?.lagSeconds ?? 0,
    })),
    term: s.term,
    inSyncStandbys: s.inSyncStandbys,
    failingSinceMs: s.failingSinceMs,
    // A primary the proxy found at its start (after a restart, say) is no failover seen happening:
    // its time would be the proxy's start; the members line shows who leads.
    lastChange: s.lastChange?.atStart ? null : s.lastChange,
  };
}
