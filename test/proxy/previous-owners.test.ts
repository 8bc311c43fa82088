/**
 * Previous owners (docs/migration.md): after a topology change the jobs of a moved tube stay on its
 * old node; the proxy finds them by asking the nodes and keeps them reachable — reserve, peek-*,
 * kick, stats-tube and pause-tube consult owner and previous owners, puts go to the new owner —
 * until the old node holds none of them. In process: 4 stalkd nodes (and 4 stock beanstalkd ones
 * where installed), a proxy that starts on 3 and is reloaded with all 4.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJobId } from '../../src/proxy/job-id';
import { Placement } from '../../src/proxy/ring';
import { type ProxyServer, startProxyServer } from '../../src/proxy/server';
import { parseTopology, type Topology } from '../../src/proxy/topology';
import { startNodeServer } from '../../src/server/node-server';
import { RawClient } from '../support/proxy-harness';
import { BEANSTALKD_PATH, startReference } from '../support/reference';

type Kind = 'stalkd' | 'stock';
const kinds: Kind[] = BEANSTALKD_PATH ? ['stalkd', 'stock'] : ['stalkd'];

interface Node {
  port: number;
  stop(): Promise<void>;
}

async function startNode(kind: Kind): Promise<Node> {
  if (kind === 'stock') return startReference();
  const s = await startNodeServer({ host: '127.0.0.1', port: 0 });
  return { port: s.port, stop: () => s.close() };
}

function topologyOf(nodes: Node[], count: number): Topology {
  return parseTopology({
    nodes: nodes
      .slice(0, count)
      .map((n, index) => ({ name: `node-${index}`, index, host: '127.0.0.1', port: n.port })),
  });
}

/** A tube that moves from node `from` to node 3 when node 3 joins. */
function movingTubes(three: Topology, four: Topology, count: number): string[] {
  const a = new Placement(three);
  const b = new Placement(four);
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const tube = `mv-${i}`;
    if (a.ownerOf(tube).index !== b.ownerOf(tube).index) out.push(tube);
  }
  return out;
}

async function statsTube(port: number, tube: string): Promise<Record<string, number>> {
  const c = await RawClient.open(port);
  try {
    const r = await c.cmd(`stats-tube ${tube}`);
    if (r.line !== `OK ${r.body?.length}`) return {};
    const out: Record<string, number> = {};
    for (const m of (r.body?.toString() ?? '').matchAll(/^([a-z-]+): (\d+)$/gm))
      out[m[1] as string] = Number(m[2]);
    return out;
  } finally {
    c.close();
  }
}

for (const kind of kinds) {
  describe(`previous owners (${kind} nodes)`, () => {
    let nodes: Node[];
    let proxy: ProxyServer;
    let three: Topology;
    let four: Topology;
    before(async () => {
      nodes = await Promise.all([0, 1, 2, 3].map(() => startNode(kind)));
      three = topologyOf(nodes, 3);
      four = topologyOf(nodes, 4);
      proxy = await startProxyServer({
        port: 0,
        nodes: three.nodes,
        pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
        scanIntervalMs: 60_000, // scans are asked for explicitly below
      });
    });
    after(async () => {
      await proxy.close();
      await Promise.all(nodes.map((n) => n.stop()));
    });

    test('restart: a proxy started on the new topology finds the jobs left on the old owner before it answers', async () => {
      // The proxy keeps no state of its own: a fresh one (a restart) learns the previous owners by
      // its first scan, which startProxyServer runs before it listens; no periodic scan helps here.
      const tube = movingTubes(three, four, 5)[4] as string;
      const oldOwner = new Placement(three).ownerOf(tube).index;
      const direct = await RawClient.open(nodes[oldOwner]?.port as number);
      await direct.cmd(`use ${tube}`);
      assert.match((await direct.cmd('put 7 0 60 4', 'left')).line, /^INSERTED \d+$/);
      direct.close();
      const fresh = await startProxyServer({ port: 0, nodes: four.nodes, scanIntervalMs: 60_000 });
      const c = await RawClient.open(fresh.port);
      try {
        assert.deepEqual(fresh.routing.holdersOf(tube), [3, oldOwner]);
        await c.cmd(`use ${tube}`);
        const peek = await c.cmd('peek-ready');
        assert.match(peek.line, /^FOUND \d+ 4$/);
        assert.equal(decodeJobId(Number(peek.line.split(' ')[1]))?.nodeIndex, oldOwner);
        await c.cmd(`watch ${tube}`);
        const r = await c.cmd('reserve-with-timeout 0');
        assert.equal(r.body?.toString(), 'left');
        assert.equal((await c.cmd(`delete ${r.line.split(' ')[1]}`)).line, 'DELETED');
      } finally {
        c.close();
        await fresh.close();
      }
    });

    test('routing: a moved tube is reserved, peeked, kicked and counted on its old and new node', async () => {
      const [tube] = movingTubes(three, four, 1) as [string];
      const oldOwner = proxy.routing.ownerOf(tube);
      const c = await RawClient.open(proxy.port);
      await c.cmd(`use ${tube}`);
      const ready = await c.put('old-ready', 5);
      const delayed = await c.put('old-delayed', 1, 3600);
      const buried = await c.put('old-buried', 2);
      await c.cmd(`watch ${tube}`);
      const r = await c.cmd('reserve-job ' + buried);
      assert.equal(r.line.split(' ')[0], 'RESERVED');
      assert.equal((await c.cmd(`bury ${buried} 2`)).line, 'BURIED');

      await proxy.reload(four);
      assert.equal(proxy.routing.ownerOf(tube), 3);
      assert.deepEqual(proxy.routing.holdersOf(tube), [3, oldOwner]);

      const put = await c.put('new-ready', 9);
      assert.equal(decodeJobId(put)?.nodeIndex, 3, 'a put goes to the new owner');
      assert.equal((await statsTube(nodes[3]?.port as number, tube))['current-jobs-ready'], 1);

      // peek-ready: the old job has the lower priority wherever it sits.
      assert.equal((await c.cmd('peek-ready')).line, `FOUND ${ready} 9`);
      assert.equal((await c.cmd('peek-delayed')).line, `FOUND ${delayed} 11`);
      assert.equal((await c.cmd('peek-buried')).line, `FOUND ${buried} 10`);
      const stats = (await c.cmd(`stats-tube ${tube}`)).body?.toString() ?? '';
      assert.match(stats, /^current-jobs-ready: 2$/m);
      assert.match(stats, /^current-jobs-delayed: 1$/m);
      assert.match(stats, /^current-jobs-buried: 1$/m);
      assert.match(stats, /^total-jobs: 4$/m);

      // reserve takes from both, lowest priority first.
      await c.cmd('ignore default');
      const first = await c.cmd('reserve-with-timeout 0');
      assert.equal(first.line, `RESERVED ${ready} 9`);
      const second = await c.cmd('reserve-with-timeout 0');
      assert.equal(second.line, `RESERVED ${put} 9`);
      assert.equal((await c.cmd('kick 10')).line, 'KICKED 1', 'the buried job only: buried before delayed');
      const third = await c.cmd('reserve-with-timeout 0');
      assert.equal(third.line, `RESERVED ${buried} 10`);
      for (const id of [ready, put, buried]) assert.equal((await c.cmd(`delete ${id}`)).line, 'DELETED');
      assert.equal((await c.cmd(`delete ${delayed}`)).line, 'DELETED');

      // The old node holds nothing of the tube any more: it stops being a previous owner.
      await proxy.scanner.refresh();
      assert.deepEqual(proxy.routing.holdersOf(tube), [3]);
      assert.equal((await c.cmd('peek-ready')).line, 'NOT_FOUND');
      c.close();
    });

    test('routing: a job put on the old node after the change is found by the next scan and reserved', async () => {
      const tube = movingTubes(three, four, 2)[1] as string;
      const oldOwner = new Placement(three).ownerOf(tube).index;
      // Put on the old owner directly (a proxy still on the old topology would do that).
      const direct = await RawClient.open(nodes[oldOwner]?.port as number);
      await direct.cmd(`use ${tube}`);
      await direct.put('late', 0);
      await proxy.scanner.refresh();
      assert.deepEqual(proxy.routing.holdersOf(tube), [3, oldOwner]);
      const c = await RawClient.open(proxy.port);
      assert.equal((await c.cmd(`pause-tube ${tube} 0`)).line, 'PAUSED');
      await c.cmd(`watch ${tube}`);
      await c.cmd('ignore default');
      const r = await c.cmd('reserve-with-timeout 5');
      assert.match(r.line, /^RESERVED \d+ 4$/);
      assert.equal(decodeJobId(Number(r.line.split(' ')[1]))?.nodeIndex, oldOwner);
      assert.equal((await c.cmd(`delete ${r.line.split(' ')[1]}`)).line, 'DELETED');
      direct.close();
      c.close();
    });
  });
}
