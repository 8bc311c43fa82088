/**
 * The dashboard's view of a running proxy: where the dashboard (which knows no proxy internals)
 * and the proxy meet, in the command that runs both.
 */
import type { ClusterView } from '../dashboard';
import type { ProxyServer } from '../proxy/server';
import { PARKING_TUBE } from '../proxy/session/node-sync';

/** The parts of a running proxy the view reads (ProxyServer fits). */
export type ProxyLike = Pick<ProxyServer, 'pool' | 'routing'>;

export function proxyClusterView(proxy: ProxyLike): ClusterView {
  return {
    nodes: () =>
      proxy.pool.all().map((link) => ({
        index: link.node.index,
        name: link.node.name,
        host: link.node.host,
        port: link.node.port,
        up: link.up,
        kind: link.kind,
      })),
    ownerOf: (tube) => proxy.routing.ownerOf(tube),
    // Same rule as the proxy's own connections (node-sync.ts): only the owner of `default` reports
    // on it, so only there does a parked connection matter.
    parkingTubeOf: (index) => (proxy.routing.ownerOf('default') === index ? PARKING_TUBE : null),
    hiddenTubes: new Set([PARKING_TUBE]),
  };
}
