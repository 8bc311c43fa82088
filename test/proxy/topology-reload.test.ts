/**
 * The proxy's check before it takes a topology that drops a node (src/proxy/topology-reload.ts,
 * refusalOf): a node still holding jobs may not leave the file — jobs being moved out of it (state
 * `moving`, which stats counts nowhere) included, as migrate and the cluster count them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseTopology } from '../../src/proxy/topology';
import { refusalOf } from '../../src/proxy/topology-reload';
import { type ProxyCluster, RawClient, startStalkdCluster } from '../support/proxy-harness';

let cluster: ProxyCluster;
before(async () => {
  cluster = await startStalkdCluster(3);
});
after(async () => {
  await cluster.stop();
});

function topologies() {
  const nodes = cluster.nodes.map((n, index) => ({
    name: `node-${index}`,
    index,
    host: n.host,
    port: n.port,
  }));
  return { all: parseTopology({ nodes }), without2: parseTopology({ nodes: nodes.slice(0, 2) }) };
}

test('topology reload: a node whose only job is moving out may not leave the file; once moved it may', async () => {
  const { all, without2 } = topologies();
  const node2 = await RawClient.open(cluster.nodes[2]?.port as number);
  try {
    await node2.cmd('use elsewhere');
    const id = await node2.put('in flight', 5, 0, 60);
    assert.equal(await refusalOf(all, without2, cluster.proxy.pool), refusalMessage(1), 'a ready job counts');
    const out = await node2.cmd(`x-move-out ${id} node-0`);
    assert.match(out.line, /^MOVING node-0 elsewhere ready 5 0 60000$/);
    const stats = await node2.cmd('stats');
    assert.match(stats.body?.toString() ?? '', /^current-jobs-ready: 0$/m, 'stats no longer counts it');
    assert.equal(
      await refusalOf(all, without2, cluster.proxy.pool),
      refusalMessage(1),
      'the moving job still counts',
    );
    assert.equal((await node2.cmd(`x-move-done ${id}`)).line, 'DELETED');
    assert.equal(await refusalOf(all, without2, cluster.proxy.pool), null, 'empty: it may leave');
  } finally {
    node2.close();
  }
});

function refusalMessage(jobs: number): string {
  return `node "node-2" left the file holding ${jobs} jobs: mark it "leaving": true and run stalkd migrate first`;
}
