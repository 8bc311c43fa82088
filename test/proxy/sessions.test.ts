/**
 * Client sessions through the proxy: pipelining across nodes, reply order, reservations released
 * on every node when a client goes away, two interchangeable proxies, internal commands refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJobId } from '../../src/proxy/job-id';
import { startProxyServer } from '../../src/proxy/server';
import { eventually, exchange } from '../support/processes';
import {
  type ClusterKind,
  type ProxyCluster,
  RawClient,
  startCluster,
  tubesPerNode,
} from '../support/proxy-harness';
import { BEANSTALKD_PATH } from '../support/reference';

const kinds: ClusterKind[] = BEANSTALKD_PATH ? ['stock', 'stalkd'] : ['stalkd'];

for (const kind of kinds) {
  describe(`sessions (${kind} nodes)`, () => {
    let cluster: ProxyCluster;
    let tubes: string[][];
    before(async () => {
      cluster = await startCluster(kind, { maxJobBytes: 100 });
      tubes = tubesPerNode(cluster.proxy, 3, 4, `s-${kind}-`);
    });
    after(() => cluster.stop());
    const tube = (node: number, i: number): string => tubes[node]?.[i] as string;

    test('sessions: a client watching thousands of tubes on 3 nodes: each node sees its share, ignore parks', async () => {
      const count = 3000;
      const names = Array.from({ length: count }, (_, i) => `many-${kind}-${i}`);
      const c = await RawClient.open(cluster.proxy.port);
      c.write(names.map((t) => `watch ${t}\r\n`).join(''));
      for (let i = 0; i < count; i++) assert.equal((await c.next(60_000))?.line, `WATCHING ${i + 2}`);
      const other = await RawClient.open(cluster.proxy.port);
      const watchingOf = async (t: string): Promise<string | undefined> =>
        /current-watching: (\d+)/.exec((await other.cmd(`stats-tube ${t}`)).body?.toString() ?? '')?.[1];
      const sample = names.filter((_, i) => i % 97 === 0);
      for (const t of sample) assert.equal(await watchingOf(t), '1', t);
      // Ignore them all (default stays): every node's share empties and its connection parks.
      c.write(names.map((t) => `ignore ${t}\r\n`).join(''));
      for (let i = count; i > 0; i--) assert.equal((await c.next(60_000))?.line, `WATCHING ${i}`);
      // Nobody watches them and they hold no jobs: each node dropped its tubes, as beanstalkd does.
      for (const t of sample) assert.equal((await other.cmd(`stats-tube ${t}`)).line, 'NOT_FOUND', t);
      assert.equal(await watchingOf('default'), '2'); // c and other
      await other.cmd(`use ${names[5]}`);
      await other.put('not-for-c');
      assert.equal((await c.cmd('reserve-with-timeout 0')).line, 'TIMED_OUT');
      assert.equal((await c.cmd(`watch ${names[5]}`)).line, 'WATCHING 2');
      assert.match((await c.cmd('reserve-with-timeout 0')).line, /^RESERVED \d+ 9$/);
      c.close();
      other.close();
    });

    test('sessions: one write of commands for 3 nodes gets its replies in request order', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      let batch = '';
      for (let i = 0; i < 30; i++)
        batch += `use ${tube(i % 3, 0)}\r\nput ${i} 0 60 2\r\n${String(i).padStart(2, '0')}\r\n`;
      batch += 'list-tube-used\r\n';
      c.write(batch);
      const ids: number[] = [];
      for (let i = 0; i < 30; i++) {
        assert.equal((await c.next())?.line, `USING ${tube(i % 3, 0)}`);
        const r = await c.next();
        assert.match(r?.line ?? '', /^INSERTED \d+$/);
        const id = Number(r?.line.split(' ')[1]);
        assert.equal(decodeJobId(id)?.nodeIndex, i % 3, 'the job went to the owner of its tube');
        ids.push(id);
      }
      assert.equal((await c.next())?.line, `USING ${tube(2, 0)}`);
      c.write(ids.map((id) => `peek ${id}\r\n`).join(''));
      for (let i = 0; i < 30; i++) {
        const r = await c.next();
        assert.equal(r?.line, `FOUND ${ids[i]} 2`);
        assert.equal(r?.body?.toString(), String(i).padStart(2, '0'));
      }
      c.write(ids.map((id) => `delete ${id}\r\n`).join(''));
      for (let i = 0; i < 30; i++) assert.equal((await c.next())?.line, 'DELETED');
      c.close();
    });

    test('sessions: a closed client has its reservations released on every node', async () => {
      const p = await RawClient.open(cluster.proxy.port);
      const ids: number[] = [];
      for (const node of [0, 1, 2]) {
        await p.cmd(`use ${tube(node, 1)}`);
        ids.push(await p.put(`held-${node}`, 0, 0, 600));
      }
      const w = await RawClient.open(cluster.proxy.port);
      for (const node of [0, 1, 2]) {
        assert.equal((await w.cmd(`reserve-job ${ids[node]}`)).line, `RESERVED ${ids[node]} 6`);
      }
      for (const id of ids)
        assert.match((await p.cmd(`stats-job ${id}`)).body?.toString() ?? '', /\nstate: reserved\n/);
      assert.equal(
        (await p.cmd(`delete ${ids[0]}`)).line,
        'NOT_FOUND',
        'another client cannot delete a reserved job',
      );
      w.close();
      // Polled (10 s at most): the nodes release once the proxy has closed w's node connections.
      await eventually(
        "every node released the closed client's reservation",
        async () => {
          const states = await Promise.all(ids.map((id) => p.cmd(`stats-job ${id}`)));
          return states.every((s) => /\nstate: ready\n/.test(s.body?.toString() ?? ''));
        },
        200,
      );
      for (const id of ids) {
        assert.match(
          (await p.cmd(`stats-job ${id}`)).body?.toString() ?? '',
          new RegExp(`^---\\nid: ${id}\\n[^]*state: ready\\n`),
        );
        assert.equal((await p.cmd(`delete ${id}`)).line, 'DELETED');
      }
      p.close();
    });

    test('sessions: two proxies in front of the same nodes agree on placement and ids', async () => {
      const second = await startProxyServer({
        port: 0,
        nodes: cluster.nodes.map((n, index) => ({
          index,
          name: `node-${index}`,
          host: n.host,
          port: n.port,
        })),
      });
      const a = await RawClient.open(cluster.proxy.port);
      const b = await RawClient.open(second.port);
      await a.cmd(`use ${tube(2, 2)}`);
      const id = await a.put('shared');
      await b.cmd(`watch ${tube(2, 2)}`);
      await b.cmd('ignore default');
      assert.equal((await b.cmd('reserve-with-timeout 1')).line, `RESERVED ${id} 6`);
      assert.equal((await a.cmd(`delete ${id}`)).line, 'NOT_FOUND', 'reserved through the other proxy');
      assert.equal((await b.cmd(`delete ${id}`)).line, 'DELETED');
      a.close();
      b.close();
      await second.close();
    });

    test('sessions: x-* node commands are UNKNOWN_COMMAND; JOB_TOO_BIG is the proxy limit', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      for (const line of ['x-hello', 'x-cancel', 'x-reserve-wait 1 1', 'x-unreserve 1', 'x-put t 0 0 1 1']) {
        assert.equal((await c.cmd(line)).line, 'UNKNOWN_COMMAND', line);
      }
      c.write(`put 0 0 60 101\r\n${'x'.repeat(101)}\r\nlist-tube-used\r\n`);
      assert.equal((await c.next())?.line, 'JOB_TOO_BIG');
      assert.equal((await c.next())?.line, 'USING default');
      c.close();
    });

    test('sessions: quit is a hard stop: nothing sent after it in the same write runs', async () => {
      const t = tube(1, 3);
      const nodeStats = (): Promise<string[]> =>
        Promise.all(cluster.nodes.map((n) => exchange(n.port, 'stats\r\n', 'platform')));
      const field = (text: string, key: string): number =>
        Number(new RegExp(`\n${key}: (\\d+)\n`).exec(text)?.[1] ?? Number.NaN);
      const before = await nodeStats();
      const c = await RawClient.open(cluster.proxy.port);
      c.write(`use ${t}\r\nquit\r\nput 0 0 10 1\r\nx\r\nuse other\r\n`);
      assert.equal((await c.next())?.line, `USING ${t}`);
      assert.equal(await c.next(), null, 'the connection closes after quit, with no further reply');
      // The node has seen everything the proxy sent for this client once that connection is gone
      // (a node reads a connection's data before its close).
      await eventually("the client's node connections closed", async () =>
        (await nodeStats()).every(
          (text, i) =>
            field(text, 'current-connections') <= field(before[i] as string, 'current-connections'),
        ),
      );
      const after = await nodeStats();
      for (const [i, text] of after.entries()) {
        assert.equal(field(text, 'cmd-put'), field(before[i] as string, 'cmd-put'), `node ${i} ran a put`);
        assert.equal(field(text, 'total-jobs'), field(before[i] as string, 'total-jobs'), `node ${i}`);
      }
    });

    test('sessions: ids of unknown nodes and ids beyond 2^53 are NOT_FOUND', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      for (const id of ['64', '9007199254740993', '18446744073709551615', '0']) {
        assert.equal((await c.cmd(`peek ${id}`)).line, 'NOT_FOUND', id);
        assert.equal((await c.cmd(`delete ${id}`)).line, 'NOT_FOUND', id);
      }
      assert.equal((await c.cmd('peek 18446744073709551616')).line, 'BAD_FORMAT');
      c.close();
    });
  });
}
