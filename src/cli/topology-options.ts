/** `--topology FILE` or `--nodes LIST`, as the proxy, migrate, rebalance and failover take them. */
import { loadTopologyFile, type Topology, topologyFromNodeList } from '../proxy/topology';

/** --topology FILE or --nodes LIST (exactly one). */
export function topologyFromOptions(opts: { nodes?: string; topology?: string }): Topology {
  if (opts.topology && opts.nodes) throw new Error('give either --nodes or --topology, not both');
  if (opts.topology) return loadTopologyFile(opts.topology);
  if (opts.nodes) return topologyFromNodeList(opts.nodes);
  throw new Error('the node list is missing: --nodes HOST:PORT,… or --topology FILE');
}
