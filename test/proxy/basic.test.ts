import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJobId } from '../../src/proxy/job-id';
import { type ProxyCluster, RawClient, startStockCluster, tubesPerNode } from '../support/proxy-harness';
import { BEANSTALKD_PATH } from '../support/reference';
import { whenInstalled } from '../support/requires';

whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () =>
  describe('proxy in front of 3 stock beanstalkd', () => {
    let cluster: ProxyCluster;
    let tubes: string[][];
    before(async () => {
      cluster = await startStockCluster(3);
      tubes = tubesPerNode(cluster.proxy, 3, 3);
    });
    after(() => cluster.stop());

    test('routing: puts land on the owner node, ids carry the node', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      for (let node = 0; node < 3; node++) {
        const tube = tubes[node]?.[0] as string;
        assert.equal((await c.cmd(`use ${tube}`)).line, `USING ${tube}`);
        const id = await c.put(`job on ${node}`);
        assert.equal(decodeJobId(id)?.nodeIndex, node);
        const peek = await c.cmd(`peek ${id}`);
        assert.equal(peek.line, `FOUND ${id} ${`job on ${node}`.length}`);
        assert.equal(peek.body?.toString(), `job on ${node}`);
        const direct = await RawClient.open(cluster.nodes[node]?.port as number);
        const st = await direct.cmd(`stats-tube ${tube}`);
        assert.match(st.body?.toString() ?? '', /current-jobs-ready: 1\n/);
        direct.close();
        assert.equal((await c.cmd(`delete ${id}`)).line, 'DELETED');
      }
      c.close();
    });

    test('local state: use/watch/ignore/list-* answered like beanstalkd', async () => {
      const c = await RawClient.open(cluster.proxy.port);
      assert.equal((await c.cmd('list-tube-used')).line, 'USING default');
      const lw = await c.cmd('list-tubes-watched');
      assert.equal(lw.line, 'OK 14');
      assert.equal(lw.body?.toString(), '---\n- default\n');
      assert.equal((await c.cmd('watch a')).line, 'WATCHING 2');
      assert.equal((await c.cmd('watch b')).line, 'WATCHING 3');
      assert.equal((await c.cmd('watch a')).line, 'WATCHING 3');
      assert.equal((await c.cmd('ignore default')).line, 'WATCHING 2');
      assert.equal((await c.cmd('list-tubes-watched')).body?.toString(), '---\n- b\n- a\n');
      assert.equal((await c.cmd('ignore zz')).line, 'WATCHING 2');
      assert.equal((await c.cmd('ignore a')).line, 'WATCHING 1');
      assert.equal((await c.cmd('ignore b')).line, 'NOT_IGNORED');
      c.close();
    });

    test('reserve across nodes: lowest priority wins, ids round-trip', async () => {
      const p = await RawClient.open(cluster.proxy.port);
      const w = await RawClient.open(cluster.proxy.port);
      const [t0, t1, t2] = [tubes[0]?.[1], tubes[1]?.[1], tubes[2]?.[1]] as string[];
      const ids: number[] = [];
      for (const [tube, pri] of [
        [t0, 50],
        [t1, 10],
        [t2, 30],
      ] as const) {
        await p.cmd(`use ${tube}`);
        ids.push(await p.put(`pri ${pri}`, pri));
      }
      for (const t of [t0, t1, t2]) await w.cmd(`watch ${t}`);
      await w.cmd('ignore default');
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await w.cmd('reserve-with-timeout 0');
        assert.match(r.line, /^RESERVED \d+ \d+$/);
        got.push(r.body?.toString() ?? '');
        const id = Number(r.line.split(' ')[1]);
        assert.ok(ids.includes(id));
        assert.equal((await w.cmd(`delete ${id}`)).line, 'DELETED');
      }
      assert.deepEqual(got, ['pri 10', 'pri 30', 'pri 50']);
      assert.equal((await w.cmd('reserve-with-timeout 0')).line, 'TIMED_OUT');
      p.close();
      w.close();
    });

    test('reserve across nodes: a waiting worker gets a job put later on any node', async () => {
      const w = await RawClient.open(cluster.proxy.port);
      const p = await RawClient.open(cluster.proxy.port);
      const [t0, t2] = [tubes[0]?.[2], tubes[2]?.[2]] as string[];
      await w.cmd(`watch ${t0}`);
      await w.cmd(`watch ${t2}`);
      const pending = w.cmd('reserve-with-timeout 5');
      await new Promise((r) => setTimeout(r, 300));
      await p.cmd(`use ${t2}`);
      const id = await p.put('late');
      const r = await pending;
      assert.equal(r.line, `RESERVED ${id} 4`);
      assert.equal((await w.cmd(`delete ${id}`)).line, 'DELETED');
      const started = Date.now();
      assert.equal((await w.cmd('reserve-with-timeout 1')).line, 'TIMED_OUT');
      const ms = Date.now() - started;
      assert.ok(ms >= 900 && ms < 2500, `timed out after ${ms} ms`);
      w.close();
      p.close();
    });
  }),
);
