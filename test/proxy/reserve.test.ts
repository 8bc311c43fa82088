/**
 * Reserve across nodes, through the proxy in front of 3 stock beanstalkd servers (sweep + sliced
 * waits) and 3 stalkd nodes (x-reserve-wait / x-cancel / x-unreserve).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJobId } from '../../src/proxy/job-id';
import {
  type ClusterKind,
  type ProxyCluster,
  RawClient,
  startCluster,
  tubesPerNode,
} from '../support/proxy-harness';
import { BEANSTALKD_PATH } from '../support/reference';

const kinds: ClusterKind[] = BEANSTALKD_PATH ? ['stock', 'stalkd'] : ['stalkd'];

async function watcher(port: number, tubes: string[]): Promise<RawClient> {
  const c = await RawClient.open(port);
  for (const t of tubes) await c.cmd(`watch ${t}`);
  assert.equal((await c.cmd('ignore default')).line, `WATCHING ${tubes.length}`);
  return c;
}

for (const kind of kinds) {
  describe(`reserve across nodes (${kind} nodes)`, () => {
    let cluster: ProxyCluster;
    let tubes: string[][];
    before(async () => {
      cluster = await startCluster(kind);
      tubes = tubesPerNode(cluster.proxy, 3, 8, `${kind}-`);
    });
    after(() => cluster.stop());
    const tube = (node: number, i: number): string => tubes[node]?.[i] as string;

    test('reserve: many consumers × many tubes on 3 nodes, every job delivered exactly once', async () => {
      const all = [0, 1, 2].flatMap((n) => [tube(n, 0), tube(n, 1)]);
      const consumers = await Promise.all(Array.from({ length: 6 }, () => watcher(cluster.proxy.port, all)));
      const producers = await Promise.all(
        Array.from({ length: 3 }, () => RawClient.open(cluster.proxy.port)),
      );
      const total = 300;
      const seen = new Map<string, number>();
      let done = 0;
      const consume = async (c: RawClient): Promise<void> => {
        while (done < total) {
          const r = await c.cmd('reserve-with-timeout 1');
          if (r.line === 'TIMED_OUT') continue;
          assert.match(r.line, /^RESERVED \d+ \d+$/);
          const body = r.body?.toString() ?? '';
          seen.set(body, (seen.get(body) ?? 0) + 1);
          assert.equal((await c.cmd(`delete ${r.line.split(' ')[1]}`)).line, 'DELETED');
          done++;
        }
      };
      const produce = async (p: RawClient, k: number): Promise<void> => {
        for (let i = k; i < total; i += producers.length) {
          await p.cmd(`use ${all[i % all.length]}`);
          await p.put(`job-${i}`, i % 7);
        }
      };
      await Promise.all([...consumers.map(consume), ...producers.map(produce)]);
      assert.equal(seen.size, total);
      for (const [body, n] of seen) assert.equal(n, 1, `${body} delivered ${n} times`);
      const stats = await producers[0]?.cmd('stats');
      assert.match(stats?.body?.toString() ?? '', /current-jobs-ready: 0\ncurrent-jobs-reserved: 0\n/);
      for (const c of [...consumers, ...producers]) c.close();
    });

    test('reserve: the lowest priority wins across nodes; the others stay untouched on stalkd', async () => {
      const p = await RawClient.open(cluster.proxy.port);
      const ids: number[] = [];
      for (const [node, pri] of [
        [0, 40],
        [1, 20],
        [2, 30],
      ] as const) {
        await p.cmd(`use ${tube(node, 2)}`);
        ids.push(await p.put(`pri-${pri}`, pri));
      }
      const w = await watcher(cluster.proxy.port, [tube(0, 2), tube(1, 2), tube(2, 2)]);
      const r = await w.cmd('reserve');
      assert.equal(r.body?.toString(), 'pri-20');
      assert.equal(decodeJobId(Number(r.line.split(' ')[1]))?.nodeIndex, 1);
      const stats = await p.cmd(`stats-job ${ids[0]}`);
      const expectReserves = kind === 'stalkd' ? 0 : 1;
      assert.match(
        stats.body?.toString() ?? '',
        new RegExp(`\\nstate: ready\\n[^]*\\nreserves: ${expectReserves}\\n`),
      );
      for (const want of ['pri-30', 'pri-40']) {
        const next = await w.cmd('reserve-with-timeout 0');
        assert.equal(next.body?.toString(), want);
        await w.cmd(`delete ${next.line.split(' ')[1]}`);
      }
      await w.cmd(`delete ${r.line.split(' ')[1]}`);
      p.close();
      w.close();
    });

    test('reserve: equal priorities come out oldest first across nodes, as from one beanstalkd', async () => {
      const p = await RawClient.open(cluster.proxy.port);
      const put = async (node: number, body: string): Promise<void> => {
        await p.cmd(`use ${tube(node, 7)}`);
        await p.put(body, 7);
      };
      // Puts rotate from the highest node index down, so a tie broken by node index would come out
      // in the wrong order. stalkd nodes stamp creation with microseconds: puts a round trip apart
      // (often in the same millisecond) keep their order. Stock nodes tell `age` in seconds only:
      // the oldest job is a second older than the others, which then go by node index.
      const order: string[] = [];
      if (kind === 'stalkd') {
        for (let round = 0; round < 12; round++) {
          for (const node of [2, 1, 0]) {
            order.push(`r${round}-n${node}`);
            await put(node, `r${round}-n${node}`);
          }
        }
      } else {
        await put(2, 'old-n2');
        const id = (await p.cmd('peek-ready')).line.split(' ')[1];
        while (!/\nage: [1-9]/.test((await p.cmd(`stats-job ${id}`)).body?.toString() ?? ''));
        await put(1, 'new-n1');
        await put(0, 'new-n0');
        order.push('old-n2', 'new-n0', 'new-n1');
      }
      const w = await watcher(cluster.proxy.port, [tube(0, 7), tube(1, 7), tube(2, 7)]);
      const got: string[] = [];
      for (let i = 0; i < order.length; i++) {
        const r = await w.cmd('reserve-with-timeout 0');
        got.push(r.body?.toString() ?? r.line);
        await w.cmd(`delete ${r.line.split(' ')[1]}`);
      }
      assert.deepEqual(got, order);
      assert.equal((await w.cmd('reserve-with-timeout 0')).line, 'TIMED_OUT');
      p.close();
      w.close();
    });

    test('reserve: one deadline for reserve-with-timeout across nodes', async () => {
      const w = await watcher(cluster.proxy.port, [tube(0, 3), tube(2, 3)]);
      const started = Date.now();
      assert.equal((await w.cmd('reserve-with-timeout 2')).line, 'TIMED_OUT');
      const ms = Date.now() - started;
      assert.ok(ms >= 1900 && ms < 3500, `TIMED_OUT after ${ms} ms`);
      assert.equal((await w.cmd('reserve-with-timeout 0')).line, 'TIMED_OUT');
      w.close();
    });

    test('reserve: a consumer that disconnects mid-reserve loses nothing; its reservations return', async () => {
      const a = await watcher(cluster.proxy.port, [tube(0, 4), tube(1, 4)]);
      const p = await RawClient.open(cluster.proxy.port);
      await p.cmd(`use ${tube(1, 4)}`);
      const held = await p.put('held');
      assert.equal((await a.cmd('reserve-with-timeout 0')).line, `RESERVED ${held} 4`);
      a.write('reserve\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      a.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const late = await p.put('late');
      const b = await watcher(cluster.proxy.port, [tube(0, 4), tube(1, 4)]);
      const got = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const r = await b.cmd('reserve-with-timeout 3');
        assert.match(r.line, /^RESERVED /);
        got.add(r.line.split(' ')[1] as string);
      }
      assert.deepEqual(got, new Set([String(held), String(late)]));
      assert.equal((await b.cmd('reserve-with-timeout 0')).line, 'TIMED_OUT');
      for (const id of got) await b.cmd(`delete ${id}`);
      p.close();
      b.close();
    });

    test('reserve: DEADLINE_SOON comes from the node holding the job, while waiting on another', async () => {
      const p = await RawClient.open(cluster.proxy.port);
      await p.cmd(`use ${tube(0, 5)}`);
      await p.put('short', 0, 0, 2);
      const w = await watcher(cluster.proxy.port, [tube(0, 5), tube(1, 5)]);
      const r = await w.cmd('reserve');
      assert.match(r.line, /^RESERVED /);
      await w.cmd(`ignore ${tube(0, 5)}`);
      const started = Date.now();
      assert.equal((await w.cmd('reserve-with-timeout 5')).line, 'DEADLINE_SOON');
      assert.ok(Date.now() - started < 2500);
      assert.equal((await w.cmd(`delete ${r.line.split(' ')[1]}`)).line, 'DELETED');
      p.close();
      w.close();
    });

    test('reserve: pipelined on one node, reserves answer in order and what follows waits for them', async () => {
      const t = tube(2, 6);
      const p = await RawClient.open(cluster.proxy.port);
      await p.cmd(`use ${t}`);
      const ids = [await p.put('first', 5), await p.put('second', 5), await p.put('third', 5)];
      const w = await watcher(cluster.proxy.port, [t]);
      // Four reserves, a local command and a node command in one write: the fourth reserve waits
      // for a job, and stats-tube (sent behind it to the same node) must see that job reserved.
      w.write(
        `reserve\r\nreserve\r\nreserve-with-timeout 0\r\nreserve\r\nlist-tube-used\r\nstats-tube ${t}\r\n`,
      );
      for (const [i, body] of ['first', 'second', 'third'].entries()) {
        const r = await w.next();
        assert.equal(r?.line, `RESERVED ${ids[i]} ${body.length}`);
        assert.equal(r?.body?.toString(), body);
      }
      // The fourth reserve waits on the node: another client sees it as waiting, then feeds it.
      for (;;) {
        const stats = await p.cmd(`stats-tube ${t}`);
        if (/current-waiting: 1\n/.test(stats.body?.toString() ?? '')) break;
      }
      const late = await p.put('late', 1);
      assert.equal((await w.next())?.line, `RESERVED ${late} 4`);
      assert.equal((await w.next())?.line, 'USING default');
      const stats = (await w.next())?.body?.toString() ?? '';
      assert.match(stats, /current-jobs-reserved: 4\n/);
      assert.match(stats, /current-waiting: 0\n/);
      w.write([...ids, late].map((id) => `delete ${id}\r\n`).join(''));
      for (let i = 0; i < 4; i++) assert.equal((await w.next())?.line, 'DELETED');
      p.close();
      w.close();
    });

    test('reserve: a client half-closing behind a pipelined reserve gets TIMED_OUT, nothing after it', async () => {
      const t = tube(1, 6);
      const w = await watcher(cluster.proxy.port, [t]);
      await w.cmd(`use ${t}`);
      const replies: string[] = [];
      const gone = new Promise<void>((resolve) => w.socket.on('close', () => resolve()));
      w.socket.on('data', (chunk: Buffer) => replies.push(chunk.toString('latin1')));
      w.socket.end('reserve-with-timeout 30\r\nlist-tube-used\r\nput 0 0 60 1\r\nx\r\n');
      await gone;
      assert.equal(replies.join(''), 'TIMED_OUT\r\n');
    });
  });
}
