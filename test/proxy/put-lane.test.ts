/**
 * Puts over one shared connection per node (src/proxy/node/put-lane.ts): many clients' puts land
 * in their own used tubes with ids that are never repeated, stats-tube still counts each client's
 * `use` as one beanstalkd would (the lane parks between writes), and a command after a put sees it
 * (the ordering rule waits for the put's reply). Against stalkd nodes and Debian's beanstalkd.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PARKING_TUBE } from '../../src/proxy/session/node-sync';
import {
  type ClusterKind,
  type ProxyCluster,
  RawClient,
  startCluster,
  tubesPerNode,
} from '../support/proxy-harness';

const kinds: ClusterKind[] = ['stalkd', 'stock'];

for (const kind of kinds) {
  describe(`put lane (${kind} nodes)`, () => {
    let cluster: ProxyCluster;
    let tubes: string[];
    before(async () => {
      cluster = await startCluster(kind);
      // Two tubes on each of the three nodes.
      tubes = tubesPerNode(cluster.proxy, 3, 2, `lane-${kind}-`).flat();
    });
    after(() => cluster.stop());

    test('put lane: the lane is one connection per node, parked between its writes', async () => {
      const tube = `lane-parked-${kind}`;
      const node = cluster.nodes[cluster.proxy.placement.ownerOf(tube).index];
      assert.ok(node);
      const direct = await RawClient.open(node.port, node.host);
      await direct.cmd('watch lane-direct');
      await direct.cmd('ignore default'); // counts in no tube the test reads
      const parked = async (): Promise<number> => {
        const r = await direct.cmd(`stats-tube ${PARKING_TUBE}`);
        return Number(/\ncurrent-using: (\d+)\n/.exec(r.body?.toString() ?? '')?.[1] ?? 0);
      };
      const before = await parked();
      const c = await RawClient.open(cluster.proxy.port);
      await c.cmd(`use ${tube}`);
      await c.put('x');
      await c.put('y');
      // One more connection on the node, using the parking tube: the lane, after its writes.
      assert.equal(await parked(), before + 1);
      // The lane watches no tube a client sees: `default` is watched by c alone.
      const def = (await c.cmd('stats-tube default')).body?.toString() ?? '';
      assert.match(def, /\ncurrent-watching: 1\n/);
      direct.close();
      c.close();
    });

    test('put lane: 30 clients × 20 puts, one in flight each, land in their tubes with distinct ids', async () => {
      const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.open(cluster.proxy.port)));
      const tubeOf = (i: number): string => tubes[i % tubes.length] as string;
      await Promise.all(
        clients.map(async (c, i) =>
          assert.equal((await c.cmd(`use ${tubeOf(i)}`)).line, `USING ${tubeOf(i)}`),
        ),
      );
      const placed = new Map<number, { tube: string; body: string }>();
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = 0; k < 20; k++) {
            const body = `c${i}-p${k}`;
            const id = await c.put(body);
            assert.equal(placed.has(id), false, `id ${id} handed out twice`);
            placed.set(id, { tube: tubeOf(i), body });
          }
        }),
      );
      assert.equal(placed.size, 600);
      const check = clients[0] as RawClient;
      for (const [id, job] of placed) {
        const stats = (await check.cmd(`stats-job ${id}`)).body?.toString() ?? '';
        assert.match(stats, new RegExp(`\\ntube: "?${job.tube}"?\\n`), `job ${id}`);
        assert.equal((await check.cmd(`peek ${id}`)).body?.toString(), job.body);
      }
      // Each tube: its 5 clients use it, its 100 jobs are there; the lanes use none of them.
      for (const tube of tubes) {
        const stats = (await check.cmd(`stats-tube ${tube}`)).body?.toString() ?? '';
        assert.match(stats, /\ncurrent-using: 5\n/, tube);
        assert.match(stats, /\ntotal-jobs: 100\n/, tube);
      }
      const listed = (await check.cmd('list-tubes')).body?.toString() ?? '';
      assert.equal(listed.includes(PARKING_TUBE), false);
      for (const c of clients) c.close();
    });

    test('put lane: a command pipelined behind a put sees the job', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      const tube = `lane-fresh-${kind}`;
      c.write(`use ${tube}\r\nput 5 0 60 3\r\nabc\r\npeek-ready\r\nstats-tube ${tube}\r\n`);
      assert.equal((await c.next())?.line, `USING ${tube}`);
      const inserted = /^INSERTED (\d+)$/.exec((await c.next())?.line ?? '');
      assert.ok(inserted);
      const peeked = await c.next();
      assert.equal(peeked?.line, `FOUND ${inserted[1]} 3`);
      assert.equal(peeked?.body?.toString(), 'abc');
      const stats = (await c.next())?.body?.toString() ?? '';
      assert.match(stats, /\ncurrent-jobs-ready: 1\n/);
      c.close();
    });

    test('put lane: a stalkd node gets x-put (no use a put), a stock node use and park around each write', async () => {
      const tube = `lane-uses-${kind}`;
      const node = cluster.nodes[cluster.proxy.placement.ownerOf(tube).index];
      assert.ok(node);
      const direct = await RawClient.open(node.port, node.host);
      const uses = async (): Promise<number> =>
        Number(/\ncmd-use: (\d+)\n/.exec((await direct.cmd('stats')).body?.toString() ?? '')?.[1]);
      const c = await RawClient.open(cluster.proxy.port);
      await c.cmd(`use ${tube}`);
      await c.put('first'); // the client's own node connection and the lane are open now
      const before = await uses();
      for (let i = 0; i < 10; i++) await c.put(`p${i}`);
      // One put in flight: each put is a write of its own (use tube, put, use parking on stock).
      assert.equal((await uses()) - before, kind === 'stalkd' ? 0 : 20);
      const stats = (await c.cmd(`stats-tube ${tube}`)).body?.toString() ?? '';
      assert.match(stats, /\ncurrent-jobs-ready: 11\n/);
      assert.match(stats, /\ncurrent-using: 1\n/);
      direct.close();
      c.close();
    });

    test('put lane: a line too long for x-put (200-byte tube, 10-digit numbers) goes as use and put', async () => {
      const tube = `${kind}-${'t'.repeat(200 - kind.length - 1)}`;
      const c = await RawClient.open(cluster.proxy.port);
      await c.cmd(`use ${tube}`);
      const id = await c.put('long', 4294967295, 0, 4294967295);
      const job = (await c.cmd(`stats-job ${id}`)).body?.toString() ?? '';
      assert.match(job, new RegExp(`\\ntube: "?${tube}"?\\n`));
      assert.match(job, /\npri: 4294967295\n/);
      assert.equal((await c.cmd(`peek ${id}`)).body?.toString(), 'long');
      c.close();
    });
  });
}
