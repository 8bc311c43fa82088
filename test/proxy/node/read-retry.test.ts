/**
 * Commands that change nothing are not failed by a failover (src/proxy/read-retry.ts): in flight
 * when the primary stops answering, or sent while its shard is down, they run on the member the
 * shard switches to; a command that changes something still gets INTERNAL_ERROR.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startProxyServer } from '../../../src/proxy/server';
import { startNodeServer } from '../../../src/server/node-server';
import { localShard, RawClient } from '../../support/proxy-harness';
import { TcpRelay } from '../../support/tcp-relay';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('failover: peek in flight, and peek-ready/stats-job sent while the shard is down, run on the new primary; delete does not', async () => {
  const [a, b] = await Promise.all([0, 1].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
  cleanups.push(() => Promise.all([a, b].map((s) => s?.close())));
  const relay = await TcpRelay.start((a as { port: number }).port);
  cleanups.push(() => relay.close());
  /** Commands as the session completes them (a reply may still wait for earlier ones). */
  const answered: string[] = [];
  const standby = b as { port: number; engine: { counts: { ready: number } } };
  const proxy = await startProxyServer({
    port: 0,
    nodes: [localShard(0, relay.port, standby.port)],
    pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
    events: {
      command: (cmd, result) => answered.push(`${cmd} ${result}`),
      reserveWait: () => {},
      fanout: () => {},
      backendError: () => {},
      backendReconnect: () => {},
      clientAccepted: () => {},
    },
  });
  cleanups.push(() => proxy.close());
  const client = await RawClient.open(proxy.port);
  cleanups.push(async () => client.close());
  await client.cmd('use t');
  const id = await client.put('kept');
  // b stands for the promoted standby: in-process nodes number jobs alike, so it gets the same id.
  const direct = await RawClient.open(standby.port);
  await direct.cmd('use t');
  await direct.put('kept');
  direct.close();
  const shard = proxy.pool.get(0);
  assert.ok(shard);

  relay.cut(); // the primary stops answering: nothing is refused, nothing comes back
  client.write(`peek ${id}\r\n`);
  await until(() => !shard.up); // the peek (or a probe) timed out: the shard is down
  client.write(`peek-ready\r\nstats-job ${id}\r\ndelete ${id}\r\n`);
  // The delete fails at once (its reply waits behind the reads): the proxy has all three now.
  await until(() => answered.includes('delete INTERNAL_ERROR'));
  assert.deepEqual(
    answered.filter((a) => !a.startsWith('use') && !a.startsWith('put')),
    ['delete INTERNAL_ERROR'],
    'the reads wait',
  );
  shard.switchTo(shard.member(`127.0.0.1:${standby.port}`) as never);
  assert.equal((await client.next())?.line, `FOUND ${id} 4`, 'the peek in flight ran on b');
  assert.equal((await client.next())?.line, `FOUND ${id} 4`, 'peek-ready waited for b');
  assert.match((await client.next())?.line ?? '', /^OK \d+$/, 'stats-job waited for b');
  assert.equal((await client.next())?.line, 'INTERNAL_ERROR', 'a delete is not sent again');
  assert.equal(standby.engine.counts.ready, 1, 'the job is still there');
});

/** Polls `cond` every 10 ms until it holds; fails after 10 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached in 10 s: ${cond}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
