/**
 * `stalkd cluster` on SIGHUP (docs/migration.md, "Trying it on one machine"): re-reads its topology
 * file, starts the nodes it names that are not running, passes the SIGHUP on to the proxy (which
 * re-reads the same file), and stops the nodes the file no longer names — only once they hold
 * nothing (jobs being moved out included). A node that still holds jobs keeps running and is
 * reported: mark it `leaving`, run `stalkd migrate`, then remove it and send SIGHUP again.
 */
import { Client } from '../client/client';
import { listMoving, speaksMoves } from '../client/job-move';
import { loadTopologyFile, type Topology, type TopologyNode } from '../proxy/topology';

/** What the reload needs from the running cluster (cluster.ts). */
export interface RunningCluster {
  topologyPath: string;
  /** Members of each running shard, by node name. */
  readonly shards: Map<string, { node: TopologyNode; stop(): Promise<void> }>;
  /** Starts shard `node` and resolves once every member listens (false: one exited first). */
  start(node: TopologyNode): Promise<boolean>;
  /** The proxy re-reads the file. */
  reloadProxy(): void;
  log(line: string): void;
}

/** Jobs a node holds, jobs being moved out included. */
async function jobsHeld(node: TopologyNode): Promise<number> {
  const client = await Client.connect({ host: node.host, port: node.port, timeoutMs: 5000 });
  try {
    const s = await client.stats();
    const moving = (await speaksMoves(client)) ? (await listMoving(client)).length : 0;
    const states = ['ready', 'reserved', 'delayed', 'buried'] as const;
    return states.reduce((sum, st) => sum + s[`current-jobs-${st}`], moving);
  } finally {
    await client.close();
  }
}

export async function reloadCluster(cluster: RunningCluster): Promise<void> {
  let next: Topology;
  try {
    next = loadTopologyFile(cluster.topologyPath);
  } catch (err) {
    cluster.log(`topology refused, nothing changed: ${(err as Error).message}`);
    return;
  }
  const named = new Set(next.nodes.map((n) => n.name));
  for (const node of next.nodes) {
    if (cluster.shards.has(node.name)) continue;
    const ok = await cluster.start(node);
    cluster.log(ok ? `${node.name} started on ${node.host}:${node.port}` : `${node.name} failed to start`);
  }
  cluster.reloadProxy();
  for (const [name, shard] of cluster.shards) {
    if (named.has(name)) continue;
    const held = await jobsHeld(shard.node).catch(() => -1);
    if (held !== 0) {
      cluster.log(
        held < 0
          ? `${name} cannot be asked what it holds: it keeps running`
          : `${name} still holds ${held} jobs: it keeps running (mark it leaving, run stalkd migrate, then SIGHUP again)`,
      );
      continue;
    }
    await shard.stop();
    cluster.shards.delete(name);
    cluster.log(`${name} stopped: it held nothing`);
  }
}
