/**
 * Shards in the topology and in the proxy's pool: `replicas` validated with the rest of the file,
 * one member link per address, commands to the shard's current primary, and a switch of primary
 * closes the clients' connections to the former one so their next commands reach the new one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startProxyServer } from '../../../src/proxy/server';
import { loadTopologyFile, parseTopology, shardMembers, TopologyError } from '../../../src/proxy/topology';
import { startNodeServer } from '../../../src/server/node-server';
import { localShard, RawClient } from '../../support/proxy-harness';

const entry = (extra: Record<string, unknown> = {}) => ({
  name: 's',
  index: 0,
  host: 'h',
  port: 1,
  ...extra,
});

test('topology: replicas are the shard entry’s standbys, validated like the rest of the file', () => {
  const t = parseTopology({
    nodes: [
      entry({
        replicas: [
          { host: 'h', port: 2, dataDir: 's-1' },
          { host: 'g', port: 1 },
        ],
      }),
      { name: 'u', index: 1, host: 'h', port: 3 },
    ],
  });
  assert.deepEqual(
    shardMembers(t.nodes[0] as never).map((m) => `${m.host}:${m.port}`),
    ['h:1', 'h:2', 'g:1'],
    'the entry itself (the initial primary) first, then its replicas in order',
  );
  assert.equal(t.nodes[1]?.replicas, undefined);
  const bad: Array<[unknown, RegExp]> = [
    [{ nodes: [entry({ replicas: {} })] }, /nodes\[0\]\.replicas must be an array/],
    [{ nodes: [entry({ replicas: [7] })] }, /nodes\[0\]\.replicas\[0\] must be an object/],
    [{ nodes: [entry({ replicas: [{ host: 'h', port: 0 }] })] }, /replicas\[0\]\.port must be a port/],
    [{ nodes: [entry({ replicas: [{ port: 2 }] })] }, /replicas\[0\]\.host is required/],
    [
      { nodes: [entry({ replicas: [{ host: 'h', port: 2, name: 'x' }] })] },
      /unknown key "name" in nodes\[0\]\.replicas\[0\]/,
    ],
    [{ nodes: [entry({ replicas: [{ host: 'h', port: 1 }] })] }, /h:1 is listed twice \(in "s" and in "s"\)/],
    [
      { nodes: [entry({ replicas: [{ host: 'h', port: 2 }] }), { name: 'u', index: 1, host: 'h', port: 2 }] },
      /h:2 is listed twice \(in "s" and in "u"\)/,
    ],
    [
      { nodes: [entry({ replicas: Array.from({ length: 8 }, (_, i) => ({ host: 'h', port: 10 + i })) })] },
      /at most 7 members/,
    ],
  ];
  for (const [doc, message] of bad) {
    assert.throws(
      () => parseTopology(doc),
      (err: unknown) => err instanceof TopologyError && message.test(err.message),
      `${JSON.stringify(doc)} must fail with ${message}`,
    );
  }
});

test('topology: the replicated example in cluster/ loads with 3 members per shard', () => {
  const t = loadTopologyFile(
    join(__dirname, '..', '..', '..', '..', 'cluster', 'examples', 'replicated-3.json'),
  );
  assert.deepEqual(
    t.nodes.map((n) => shardMembers(n).length),
    [3, 3, 3],
  );
});

test('proxy: one link per member address; the shard sends commands to its primary, a switch moves them', async () => {
  const { servers, a, b, c, proxy } = await twoShards();
  const client = await RawClient.open(proxy.port);
  try {
    assert.deepEqual(
      [...proxy.pool.members.keys()].sort(),
      [a.port, b.port, c.port].map((p) => `127.0.0.1:${p}`).sort(),
    );
    const shard = proxy.pool.get(0);
    assert.ok(shard);
    assert.equal(shard.node.port, a.port, 'the entry’s own address is the initial primary');
    const tube = ['t0', 't1', 't2', 't3', 't4', 't5'].find((t) => proxy.routing.ownerOf(t) === 0);
    assert.ok(tube, 'some tube of six is on shard 0');
    assert.equal((await client.cmd(`use ${tube}`)).line, `USING ${tube}`);
    await client.put('on-a');
    assert.equal(a.engine.counts.ready, 1);
    assert.equal(b.engine.counts.ready, 0);

    const standby = shard.member(`127.0.0.1:${b.port}`);
    assert.ok(standby);
    shard.switchTo(standby);
    assert.equal(shard.node.port, b.port);
    // The client's connection to a was closed by the switch: its next put opens one to b, using the tube.
    await client.put('on-b');
    assert.equal(b.engine.counts.ready, 1);
    assert.equal(a.engine.counts.ready, 1, 'nothing more went to the former primary');
    assert.equal((await client.cmd(`stats-tube ${tube}`)).line.startsWith('OK'), true);
  } finally {
    client.close();
    await proxy.close();
    await Promise.all(servers.map((s) => s.close()));
  }
});

test('proxy: a blocking reserve across shards keeps waiting through a primary’s death and takes a job from its successor', async () => {
  const { a, b, c, proxy } = await twoShards();
  const worker = await RawClient.open(proxy.port);
  const producer = await RawClient.open(proxy.port);
  try {
    const names = Array.from({ length: 40 }, (_, i) => `q${i}`);
    const on0 = names.find((t) => proxy.routing.ownerOf(t) === 0) as string;
    const on1 = names.find((t) => proxy.routing.ownerOf(t) === 1) as string;
    await worker.cmd(`watch ${on0}`);
    await worker.cmd(`watch ${on1}`);
    await worker.cmd('ignore default');
    worker.write('reserve-with-timeout 20\r\n');
    const shard = proxy.pool.get(0);
    assert.ok(shard);
    // The wait is out on both shards once a's and c's engines count a waiting connection.
    await eventually(
      () => a.engine.counts.waiting === 1 && c.engine.counts.waiting === 1,
      () => `waiting ${a.engine.counts.waiting} ${c.engine.counts.waiting} ${shard.kind}`,
    );
    await a.close();
    await eventually(() => !shard.up);
    shard.switchTo(shard.member(`127.0.0.1:${b.port}`) as never);
    await eventually(() => b.engine.counts.waiting === 1);
    await producer.cmd(`use ${on0}`);
    const id = await producer.put('after the failover');
    const reply = await worker.next();
    assert.equal(reply?.line, `RESERVED ${id} 18`);
    assert.equal(c.engine.counts.waiting, 0, 'the wait on the other shard was cancelled');
  } finally {
    worker.close();
    producer.close();
    await proxy.close();
    await Promise.all([b, c].map((s) => s.close()));
  }
});

test('proxy: a job whose reservation ended at a switch is not its old holder’s to delete (NOT_FOUND) until it reserves it again', async () => {
  const { a, b, c, proxy } = await twoShards();
  const holder = await RawClient.open(proxy.port);
  const other = await RawClient.open(proxy.port);
  try {
    const tube = ['t0', 't1', 't2', 't3', 't4', 't5'].find((t) => proxy.routing.ownerOf(t) === 0) as string;
    for (const client of [holder, other]) {
      await client.cmd(`use ${tube}`);
      await client.cmd(`watch ${tube}`);
      await client.cmd('ignore default');
    }
    const id = await holder.put('held at the switch');
    const spare = await holder.put('never reserved');
    assert.equal((await holder.cmd('reserve-with-timeout 0')).line, `RESERVED ${id} 18`);
    // b stands for the promoted standby: it holds the same jobs, ready (reservations are not
    // replicated). In-process nodes number jobs alike, so two puts give b the same node ids.
    const direct = await RawClient.open(b.port);
    await direct.cmd(`use ${tube}`);
    await direct.put('held at the switch');
    await direct.put('never reserved');
    direct.close();
    const shard = proxy.pool.get(0);
    assert.ok(shard);
    shard.switchTo(shard.member(`127.0.0.1:${b.port}`) as never);

    for (const cmd of [`release ${id} 0 0`, `bury ${id} 0`, `touch ${id}`, `delete ${id}`]) {
      assert.equal((await holder.cmd(cmd)).line, 'NOT_FOUND', `${cmd} by the old holder`);
    }
    assert.equal(b.engine.counts.ready, 2, 'nothing was sent to the job: it is still ready on b');
    // A ready job the client never reserved keeps beanstalkd's rule: anyone may delete it.
    assert.equal((await holder.cmd(`delete ${spare}`)).line, 'DELETED');
    // Reserved again (pipelined: reserve-job, then delete), it is the client's again.
    holder.write(`reserve-job ${id}\r\ndelete ${id}\r\n`);
    assert.equal((await holder.next())?.line, `RESERVED ${id} 18`);
    assert.equal((await holder.next())?.line, 'DELETED');
    assert.equal(b.engine.counts.ready + b.engine.counts.reserved, 0);
    assert.equal((await other.cmd(`delete ${id}`)).line, 'NOT_FOUND', 'gone for everyone');
  } finally {
    holder.close();
    other.close();
    await proxy.close();
    await Promise.all([a, b, c].map((s) => s.close()));
  }
});

/** Stalkd nodes a, b, c in process; shard s0 = a (primary) + b, shard s1 = c; a proxy over them. */
async function twoShards() {
  const servers = await Promise.all([0, 1, 2].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
  const [a, b, c] = servers as [(typeof servers)[0], (typeof servers)[0], (typeof servers)[0]];
  const proxy = await startProxyServer({
    port: 0,
    nodes: [localShard(0, a.port, b.port), localShard(1, c.port)],
    pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
  });
  return { servers, a, b, c, proxy };
}

/** Polls `cond` every 10 ms until it holds; fails after 5 s. */
async function eventually(cond: () => boolean, what: () => string = () => cond.toString()): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached in 5 s: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
