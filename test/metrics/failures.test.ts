/**
 * Failures an operator can see on a node: puts refused by reason (draining, binlog, memory ceiling,
 * JOB_TOO_BIG, EXPECTED_CRLF), a full disk as binlog write errors, `stalkd_binlog_writable` 0 and
 * /readyz failing until it recovers, a binlog segment made on the event loop, connections refused
 * at the limit and closed by the request timeout, and the --max-jobs-bytes ceiling answering
 * OUT_OF_MEMORY instead of growing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import type { Registry } from 'prom-client';
import { type OpenedBinlog, openBinlog, restoreInto } from '../../src/binlog';
import { createRegistry } from '../../src/metrics/common';
import { NODE, PROXY } from '../../src/metrics/families';
import { nodeReadiness, registerNodeMetrics } from '../../src/metrics/node-metrics';
import { registerProxyMetrics } from '../../src/metrics/proxy-metrics';
import { startProxyServer } from '../../src/proxy/server';
import { startNodeServer } from '../../src/server/node-server';
import { FaultyFileOps, tempDir } from '../support/binlog-fixtures';
import { parseExposition, sampleValue } from '../support/exposition';
import { MiniClient } from '../support/mini-client';
import { pollUntil } from '../support/prometheus';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  return sampleValue(parseExposition(await registry.metrics()), name, labels);
}

/** A node logging to `opened`, its metrics registry and a client. */
async function loggedNode(opened: OpenedBinlog, maxJobBytes?: number) {
  const node = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    ...(maxJobBytes !== undefined ? { maxJobBytes } : {}),
    log: opened.binlog,
    beforeListen: (engine) => restoreInto(engine, opened),
  });
  const registry = createRegistry('node');
  registerNodeMetrics(registry, node);
  return { node, registry, c: await MiniClient.connect(node.port) };
}

test('failures: puts refused are counted by reason', async () => {
  const node = await startNodeServer({ host: '127.0.0.1', port: 0, maxJobBytes: 10, maxJobsBytes: 1 << 30 });
  const registry = createRegistry('node');
  registerNodeMetrics(registry, node);
  const c = await MiniClient.connect(node.port);
  try {
    assert.match((await c.send('put 0 0 60 11', 'x'.repeat(11))).line, /^JOB_TOO_BIG/);
    assert.match((await c.put('fine')).line, /^INSERTED/);
    // A body longer than announced: the connection is out of step afterwards, so its own.
    const sloppy = await MiniClient.connect(node.port);
    assert.equal((await sloppy.send('put 0 0 60 2', 'abc')).line, 'EXPECTED_CRLF');
    sloppy.close();
    node.drain();
    assert.equal((await c.put('late')).line, 'DRAINING');
    const refused = (reason: string) => value(registry, NODE.putsRefused.name, { reason });
    assert.deepEqual(
      await Promise.all(['job_too_big', 'expected_crlf', 'draining', 'binlog', 'memory'].map(refused)),
      [1, 1, 1, 0, 0],
    );
  } finally {
    c.close();
    await node.close();
  }
});

test('failures: --max-jobs-bytes answers OUT_OF_MEMORY past the ceiling and takes puts again once jobs go', async () => {
  const maxJobsBytes = 1 << 20;
  const node = await startNodeServer({ host: '127.0.0.1', port: 0, maxJobsBytes });
  const registry = createRegistry('node');
  registerNodeMetrics(registry, node);
  const c = await MiniClient.connect(node.port);
  const body = 'b'.repeat(4000);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = await c.put(body);
      if (r.line === 'OUT_OF_MEMORY') break;
      ids.push(/^INSERTED (\d+)$/.exec(r.line)?.[1] as string);
    }
    assert.ok(ids.length > 100 && ids.length < 1000, `${ids.length} puts before the ceiling`);
    assert.equal((await c.put(body)).line, 'OUT_OF_MEMORY', 'still refused');
    assert.equal(await value(registry, NODE.putsRefused.name, { reason: 'memory' }), 2);
    assert.equal(await value(registry, NODE.jobsMaxBytes.name), maxJobsBytes);
    // Slabs are 256 KiB: the check runs before each put, so at most one slab past the ceiling.
    const used = await value(registry, NODE.jobsBytes.name);
    assert.ok(
      used >= maxJobsBytes - 2 * body.length && used <= maxJobsBytes + 256 * 1024,
      `jobs bytes ${used}`,
    );
    for (const id of ids) assert.equal((await c.send(`delete ${id}`)).line, 'DELETED');
    assert.match((await c.put(body)).line, /^INSERTED/, 'room again once the jobs are gone');
  } finally {
    c.close();
    await node.close();
  }
});

test('failures: a full disk counts write errors, clears binlog_writable and fails /readyz until it recovers', async () => {
  const dir = tempDir();
  const ops = new FaultyFileOps();
  let full = false;
  ops.rule = (op) => (full && (op === 'writev' || op === 'write') ? 'ENOSPC' : undefined);
  const { node, registry, c } = await loggedNode(
    await openBinlog(dir, { fsyncEveryMs: 0, log: () => {} }, ops),
  );
  try {
    assert.match((await c.put('before')).line, /^INSERTED/);
    assert.deepEqual(nodeReadiness(node), { ok: true });
    assert.equal(await value(registry, NODE.binlogWritable.name), 1);
    full = true;
    const pending = c.put('while full'); // its reply waits for a write that fails
    await pollUntil(
      'the write fails',
      async () => ((await value(registry, NODE.binlogWritable.name)) === 0 ? true : undefined),
      10_000,
    );
    assert.ok((await value(registry, NODE.binlogWriteErrors.name)) >= 1);
    assert.deepEqual(nodeReadiness(node), {
      ok: false,
      reason: 'binlog not writable (disk full or failing)',
    });
    // Another connection (this one's replies wait in order behind the pending put).
    const other = await MiniClient.connect(node.port);
    assert.equal((await other.put('refused')).line, 'OUT_OF_MEMORY');
    other.close();
    assert.ok((await value(registry, NODE.putsRefused.name, { reason: 'binlog' })) >= 1);
    full = false;
    assert.match((await pending).line, /^INSERTED/, 'the retried write confirms the put');
    await pollUntil(
      'writable again',
      async () => ((await value(registry, NODE.binlogWritable.name)) === 1 ? true : undefined),
      10_000,
    );
    assert.deepEqual(nodeReadiness(node), { ok: true });
  } finally {
    c.close();
    await node.close();
  }
});

test('failures: a segment made on the event loop (a job larger than -s) is counted', async () => {
  const segmentBytes = 64 * 1024;
  const opened = await openBinlog(tempDir(), { fsyncEveryMs: 0, segmentBytes, log: () => {} });
  const { node, registry, c } = await loggedNode(opened, 4 * segmentBytes);
  try {
    assert.match((await c.put('small')).line, /^INSERTED/);
    assert.equal(await value(registry, NODE.binlogBlockingPreallocations.name), 0);
    // No preallocated segment can hold it: the log makes one now, while the node waits.
    assert.match((await c.put('x'.repeat(2 * segmentBytes))).line, /^INSERTED/);
    assert.equal(await value(registry, NODE.binlogBlockingPreallocations.name), 1);
  } finally {
    c.close();
    await node.close();
  }
});

test('failures: connections refused at --max-connections and closed by the request timeout are counted', async () => {
  const node = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 1,
    requestTimeoutMs: 200,
  });
  const registry = createRegistry('node');
  registerNodeMetrics(registry, node);
  try {
    await refuseThenTimeOut(node.port, () => node.connections.size, registry, {
      refused: NODE.connectionsRefused.name,
      timedOut: NODE.connectionsTimedOut.name,
    });
  } finally {
    await node.close();
  }
});

test('failures: the proxy counts clients refused at --max-connections and closed by the request timeout', async () => {
  const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const registry = createRegistry('proxy');
  const recorder = registerProxyMetrics(registry, {
    clientConnections: () => 0,
    reserveWaiting: () => 0,
    backends: () => [],
    placement: () => [],
    topologyLoaded: () => true,
  });
  const proxy = await startProxyServer({
    nodes: [{ name: 'n0', index: 0, host: '127.0.0.1', port: node.port }],
    maxClients: 1,
    requestTimeoutMs: 200,
    events: recorder,
  });
  try {
    await refuseThenTimeOut(proxy.port, () => proxy.counters.currentConnections, registry, {
      refused: PROXY.clientConnectionsRefused.name,
      timedOut: PROXY.clientConnectionsTimedOut.name,
    });
  } finally {
    await proxy.close();
    await node.close();
  }
});

/**
 * With room for one client and a 200 ms request timeout: a second connection is closed at once
 * (refused), and a lone client that leaves a request incomplete is closed once it stalls.
 */
async function refuseThenTimeOut(
  port: number,
  openConnections: () => number,
  registry: Registry,
  names: { refused: string; timedOut: string },
): Promise<void> {
  const first = await MiniClient.connect(port);
  const second = net.connect(port, '127.0.0.1');
  await once(second, 'close');
  assert.equal(await value(registry, names.refused), 1);
  first.close();
  await pollUntil('a free slot', async () => (openConnections() === 0 ? true : undefined), 5000);
  const staller = net.connect(port, '127.0.0.1');
  await once(staller, 'connect');
  staller.write('put 0 0 60 5\r\nab');
  await once(staller, 'close');
  assert.equal(await value(registry, names.timedOut), 1);
}
