/**
 * Metrics: the HTTP endpoints, the node families read from a real node in process, the tube cap,
 * the proxy recorder's label bounds and readiness rules.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { FakeClock } from '../../src/engine/clock';
import { createRegistry } from '../../src/metrics/common';
import { ALL_FAMILIES, COMMON, NODE, PROXY } from '../../src/metrics/families';
import { renderMetrics, startMetricsServer } from '../../src/metrics/metrics-server';
import { type FsyncObserver, registerNodeMetrics, startNodeMetrics } from '../../src/metrics/node-metrics';
import { proxyReadiness, registerProxyMetrics } from '../../src/metrics/proxy-metrics';
import { capTubes } from '../../src/metrics/tube-cap';
import { type DurableLog, startNodeServer } from '../../src/server/node-server';
import { parseExposition, sampleValue, select } from '../support/exposition';
import { MiniClient } from '../support/mini-client';

interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, method = 'GET'): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics server', () => {
  test('metrics server: serves /metrics, /livez, /readyz and 404/405 elsewhere', async () => {
    const registry = new Registry();
    let ready = { ok: false, reason: 'replaying' };
    let live = true;
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      live: () => live,
      ready: () => ready,
    });
    try {
      const metrics = await get(server.port, '/metrics');
      assert.equal(metrics.status, 200);
      assert.equal(metrics.headers['content-type'], registry.contentType);
      assert.deepEqual(await get(server.port, '/readyz').then((r) => [r.status, r.body]), [
        503,
        'not ready: replaying\n',
      ]);
      ready = { ok: true, reason: '' };
      assert.deepEqual(await get(server.port, '/readyz?verbose').then((r) => [r.status, r.body]), [
        200,
        'ok\n',
      ]);
      assert.equal((await get(server.port, '/livez')).status, 200);
      live = false;
      assert.equal((await get(server.port, '/livez')).status, 503);
      assert.equal((await get(server.port, '/nope')).status, 404);
      assert.equal((await get(server.port, '/metrics', 'POST')).status, 405);
      server.addRoute('/extra', (_req, res) => res.end('extra'));
      assert.equal((await get(server.port, '/extra')).body, 'extra');
    } finally {
      await server.close();
    }
  });

  test('metrics server: concurrent scrapes share one collect', async () => {
    const registry = new Registry();
    let collects = 0;
    const { Gauge } = await import('prom-client');
    new Gauge({
      name: 'probe',
      help: 'counts collects',
      registers: [registry],
      async collect() {
        collects++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        this.set(collects);
      },
    });
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      live: () => true,
      ready: () => ({ ok: true }),
    });
    try {
      const replies = await Promise.all([1, 2, 3].map(() => get(server.port, '/metrics')));
      assert.equal(collects, 1);
      for (const r of replies) assert.equal(sampleValue(parseExposition(r.body), 'probe'), 1);
    } finally {
      await server.close();
    }
  });
});

test("metrics server: the chunked render matches prom-client's own", async () => {
  const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
  try {
    const registry = createRegistry('node');
    registerNodeMetrics(registry, node);
    // Default process/nodejs series change between two renders; everything else must be identical.
    const strip = (text: string) =>
      text.split('\n').filter((line) => line !== '' && !/stalkd_(process|nodejs)_/.test(line));
    const chunked = await renderMetrics(registry);
    assert.deepEqual(strip(chunked), strip(await registry.metrics()));
    assert.ok(chunked.endsWith('\n') && !chunked.endsWith('\n\n\n'));
  } finally {
    await node.close();
  }
});

async function scrape(registry: Registry) {
  return parseExposition(await registry.metrics());
}

describe('node metrics', () => {
  test('node metrics: jobs by state, commands, connections and tubes follow the engine', async () => {
    const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
    const registry = createRegistry('node');
    registerNodeMetrics(registry, node);
    const producer = await MiniClient.connect(node.port);
    const worker = await MiniClient.connect(node.port);
    try {
      await producer.send('use emails');
      for (let i = 0; i < 5; i++) await producer.put(`job ${i}`, i < 2 ? 0 : 2000);
      await producer.put('later', 0, 3600);
      await worker.send('watch emails');
      const reserved = await worker.send('reserve');
      const buried = await worker.send('reserve');
      await worker.send(`bury ${/RESERVED (\d+)/.exec(buried.line)?.[1]} 0`);
      assert.match(reserved.line, /^RESERVED/);

      const s = await scrape(registry);
      assert.equal(sampleValue(s, NODE.jobs.name, { state: 'ready' }), 3);
      assert.equal(sampleValue(s, NODE.jobs.name, { state: 'reserved' }), 1);
      assert.equal(sampleValue(s, NODE.jobs.name, { state: 'delayed' }), 1);
      assert.equal(sampleValue(s, NODE.jobs.name, { state: 'buried' }), 1);
      assert.equal(sampleValue(s, NODE.jobsUrgent.name), 0);
      assert.equal(sampleValue(s, NODE.jobsCreated.name), 6);
      assert.equal(sampleValue(s, NODE.commands.name, { command: 'put' }), 6);
      assert.equal(sampleValue(s, NODE.commands.name, { command: 'reserve' }), 2);
      assert.equal(sampleValue(s, NODE.commands.name, { command: 'bury' }), 1);
      assert.equal(sampleValue(s, NODE.connections.name), 2);
      assert.equal(sampleValue(s, NODE.connectionRoles.name, { role: 'producer' }), 1);
      assert.equal(sampleValue(s, NODE.connectionRoles.name, { role: 'worker' }), 1);
      assert.equal(sampleValue(s, NODE.connectionsAccepted.name), 2);
      assert.equal(sampleValue(s, NODE.tubes.name), 2);
      assert.equal(sampleValue(s, NODE.tubeJobs.name, { tube: 'emails', state: 'ready' }), 3);
      assert.equal(sampleValue(s, NODE.tubeJobs.name, { tube: 'emails', state: 'buried' }), 1);
      assert.equal(sampleValue(s, NODE.tubeJobsCreated.name, { tube: 'emails' }), 6);
      assert.equal(sampleValue(s, NODE.draining.name), 0);
      assert.equal(select(s, 'stalkd_build_info', { component: 'node' }).length, 1);
      assert.ok(select(s, 'stalkd_nodejs_eventloop_lag_p99_seconds').length === 1);
      assert.equal(select(s, NODE.binlogFiles.name).length, 0, 'no binlog, no binlog series');
    } finally {
      producer.close();
      worker.close();
      await node.close();
    }
  });

  test('node metrics: oldest ready job age per tube and per node, from the put time (injected clock)', async () => {
    const clock = new FakeClock();
    const node = await startNodeServer({ host: '127.0.0.1', port: 0, clock });
    const registry = createRegistry('node');
    registerNodeMetrics(registry, node, { nodeName: 'stalkd-node-2', nodeIndex: '2' });
    const c = await MiniClient.connect(node.port);
    try {
      await c.send('use old');
      await c.put('first');
      clock.advance(90_000);
      await c.put('second');
      await c.send('use fresh');
      await c.put('new');
      await c.put('later', 0, 3600); // delayed: not ready, not counted
      clock.advance(30_000);
      const s = await scrape(registry);
      assert.equal(sampleValue(s, NODE.tubeOldestReadyAge.name, { tube: 'old' }), 120);
      assert.equal(sampleValue(s, NODE.tubeOldestReadyAge.name, { tube: 'fresh' }), 30);
      assert.equal(sampleValue(s, NODE.tubeOldestReadyAge.name, { tube: 'default' }), 0, 'none ready');
      assert.equal(sampleValue(s, NODE.oldestReadyAge.name), 120);
      await c.send('watch old');
      const first = await c.send('reserve');
      await c.send(`delete ${/^RESERVED (\d+)/.exec(first.line)?.[1]}`);
      const after = await scrape(registry);
      assert.equal(sampleValue(after, NODE.tubeOldestReadyAge.name, { tube: 'old' }), 30, 'the next oldest');
      assert.equal(sampleValue(after, NODE.oldestReadyAge.name), 30);
      assert.equal(sampleValue(after, NODE.nodeInfo.name, { stalkd_node: 'stalkd-node-2', index: '2' }), 1);
    } finally {
      c.close();
      await node.close();
    }
  });

  test('node metrics: the tube cap keeps allowlisted and heaviest tubes and counts the rest', async () => {
    const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
    const registry = createRegistry('node');
    registerNodeMetrics(registry, node, { maxTubes: 2, tubeAllowlist: ['quiet'] });
    const c = await MiniClient.connect(node.port);
    try {
      // Jobs per tube: t1 → 1, t2 → 2, t3 → 3, quiet → 0 (exists while used).
      for (const n of [1, 2, 3]) {
        await c.send(`use t${n}`);
        for (let i = 0; i < n; i++) await c.put('x');
      }
      await c.send('use quiet');
      const s = await scrape(registry);
      const tubes = new Set(select(s, NODE.tubeJobs.name).map((x) => x.labels.tube));
      assert.deepEqual([...tubes].sort(), ['quiet', 't2', 't3']);
      // default and t1 dropped: 2 tubes × 9 series.
      assert.equal(sampleValue(s, NODE.tubeSeriesDropped.name), 18);
      assert.equal(sampleValue(await scrape(registry), NODE.tubeSeriesDropped.name), 36);
    } finally {
      c.close();
      await node.close();
    }
  });

  test('node metrics: binlog figures and fsync durations come from the attached log', async () => {
    let observer: FsyncObserver | undefined;
    const log: DurableLog & { setFsyncObserver(o: FsyncObserver | undefined): void } = {
      logPut: () => 1,
      logUpdate: () => 1,
      logMoveOut: () => 1,
      logDelete: () => 1,
      reserveIds: () => Number.MAX_SAFE_INTEGER,
      flush: () => {},
      durableSeq: () => Number.MAX_SAFE_INTEGER,
      onDurable: () => {},
      stats: () => ({
        oldestIndex: 3,
        currentIndex: 5,
        recordsMigrated: 7,
        recordsWritten: 42,
        maxSizeBytes: 4096,
        liveBytes: 1000,
      }),
      close: async () => {},
      setFsyncObserver: (o) => {
        observer = o;
      },
    };
    const node = await startNodeServer({ host: '127.0.0.1', port: 0, log });
    try {
      const registry = createRegistry('node');
      registerNodeMetrics(registry, node);
      assert.ok(observer, 'the node metrics attach an fsync observer');
      observer.onFsync(0.0003);
      observer.onFsync(0.02);
      const s = await scrape(registry);
      assert.equal(sampleValue(s, NODE.binlogFiles.name), 3);
      assert.equal(sampleValue(s, NODE.binlogDiskBytes.name), 3 * 4096);
      assert.equal(sampleValue(s, NODE.binlogLiveBytes.name), 1000);
      assert.equal(sampleValue(s, NODE.binlogRecordsWritten.name), 42);
      assert.equal(sampleValue(s, NODE.binlogRecordsMigrated.name), 7);
      assert.equal(sampleValue(s, `${NODE.binlogFsync.name}_count`), 2);
      assert.equal(sampleValue(s, `${NODE.binlogFsync.name}_bucket`, { le: '0.0005' }), 1);
      assert.equal(select(s, NODE.binlogFilesystemAvail.name).length, 0, 'no directory given');
    } finally {
      await node.close();
    }
  });

  test('node metrics: the binlog filesystem figures are statfs of the binlog directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stalkd-fs-'));
    const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
    try {
      const registry = createRegistry('node');
      registerNodeMetrics(registry, node, { binlogDir: dir });
      const s = await scrape(registry);
      const fs = statfsSync(dir);
      assert.equal(sampleValue(s, NODE.binlogFilesystemSize.name), fs.blocks * fs.bsize);
      const avail = sampleValue(s, NODE.binlogFilesystemAvail.name) as number;
      // Other processes write to the same filesystem meanwhile: same order of magnitude, not equal.
      assert.ok(avail > 0 && avail <= fs.blocks * fs.bsize, `avail ${avail}`);
      rmSync(dir, { recursive: true });
      const gone = await scrape(registry);
      assert.ok(Number.isNaN(sampleValue(gone, NODE.binlogFilesystemAvail.name)), 'statfs failed: NaN');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await node.close();
    }
  });

  test('metrics: the memory limit is the cgroup limit when set, else the machine memory', async () => {
    const registry = createRegistry('proxy');
    const s = await scrape(registry);
    const limit = sampleValue(s, COMMON.memoryLimit.name) as number;
    const constrained = process.constrainedMemory();
    const expected = constrained > 0 && constrained < totalmem() ? constrained : totalmem();
    assert.equal(limit, expected);
    assert.ok(limit > 0 && limit <= totalmem());
  });

  test('node metrics: readiness fails while draining and after close', async () => {
    const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
    const metrics = await startNodeMetrics(node, { host: '127.0.0.1', port: 0 });
    try {
      assert.equal((await get(metrics.port, '/readyz')).status, 200);
      node.drain();
      const r = await get(metrics.port, '/readyz');
      assert.deepEqual([r.status, r.body], [503, 'not ready: draining\n']);
      assert.equal(
        sampleValue(parseExposition((await get(metrics.port, '/metrics')).body), NODE.draining.name),
        1,
      );
      assert.equal((await get(metrics.port, '/livez')).status, 200);
      await node.close();
      assert.equal((await get(metrics.port, '/readyz')).body, 'not ready: not listening\n');
    } finally {
      await metrics.close();
      await node.close().catch(() => {});
    }
  });
});

describe('tube cap', () => {
  const names = (xs: { n: string }[]) => xs.map((x) => x.n);
  const items = [
    { n: 'a', w: 5 },
    { n: 'b', w: 9 },
    { n: 'c', w: 5 },
    { n: 'd', w: 1 },
    { n: 'e', w: 7 },
  ];
  test('tube cap: keeps the heaviest, earlier tubes win ties, allowlist is extra', () => {
    const r = capTubes(
      items,
      (x) => x.n,
      (x) => x.w,
      { maxTubes: 3, allow: new Set(['d']) },
    );
    assert.deepEqual(names(r.selected), ['d', 'b', 'e', 'a']);
    assert.equal(r.dropped, 1);
  });
  test('tube cap: zero keeps only the allowlist; a large cap keeps all', () => {
    const none = capTubes(
      items,
      (x) => x.n,
      (x) => x.w,
      { maxTubes: 0, allow: new Set(['c']) },
    );
    assert.deepEqual([names(none.selected), none.dropped], [['c'], 4]);
    const all = capTubes(
      items,
      (x) => x.n,
      (x) => x.w,
      { maxTubes: 10, allow: new Set() },
    );
    assert.deepEqual([all.selected.length, all.dropped], [5, 0]);
  });
});

describe('proxy metrics', () => {
  const source = (backends: { node: string; up: boolean }[], loaded = true) => ({
    clientConnections: () => 4,
    reserveWaiting: () => 2,
    backends: () => backends,
    placement: () => [
      { tube: 'a', node: 'node0' },
      { tube: 'b', node: 'node1' },
      { tube: 'c', node: 'node0' },
    ],
    topologyLoaded: () => loaded,
  });

  test('proxy metrics: recorder counts by command and result with bounded labels', async () => {
    const registry = createRegistry('proxy');
    const nodes = [
      { node: 'node0', up: true },
      { node: 'node1', up: false },
    ];
    const r = registerProxyMetrics(registry, source(nodes), { maxTubes: 2 });
    r.command('put', 'INSERTED', 0.0002);
    r.command('put', 'INSERTED', 0.0004);
    r.command('frobnicate', 'UNKNOWN_COMMAND', 0.00001);
    r.command('delete', 'garbage words', 0.001);
    r.reserveWait('reserve', 'RESERVED', 3);
    r.fanout('stats', 0.002);
    r.backendError('node1', 'timeout');
    r.backendReconnect('node1');
    r.clientAccepted();
    const s = await scrape(registry);
    assert.equal(sampleValue(s, PROXY.commands.name, { command: 'put', result: 'INSERTED' }), 2);
    assert.equal(sampleValue(s, PROXY.commands.name, { command: 'unknown', result: 'UNKNOWN_COMMAND' }), 1);
    assert.equal(sampleValue(s, PROXY.commands.name, { command: 'delete', result: 'OTHER' }), 1);
    assert.equal(sampleValue(s, PROXY.commands.name, { command: 'reserve', result: 'RESERVED' }), 1);
    assert.equal(sampleValue(s, `${PROXY.commandDuration.name}_count`, { command: 'put' }), 2);
    assert.equal(
      sampleValue(s, `${PROXY.commandDuration.name}_bucket`, { command: 'put', le: '0.00025' }),
      1,
    );
    assert.equal(select(s, `${PROXY.commandDuration.name}_count`, { command: 'reserve' }).length, 0);
    assert.equal(sampleValue(s, `${PROXY.reserveWait.name}_count`, { command: 'reserve' }), 1);
    assert.equal(sampleValue(s, `${PROXY.fanoutDuration.name}_count`, { command: 'stats' }), 1);
    assert.equal(sampleValue(s, PROXY.backendUp.name, { stalkd_node: 'node1' }), 0);
    assert.equal(sampleValue(s, PROXY.backendErrors.name, { stalkd_node: 'node1', kind: 'timeout' }), 1);
    assert.equal(sampleValue(s, PROXY.backendErrors.name, { stalkd_node: 'node0', kind: 'connect' }), 0);
    assert.equal(sampleValue(s, PROXY.backendReconnects.name, { stalkd_node: 'node1' }), 1);
    assert.equal(sampleValue(s, PROXY.clientConnections.name), 4);
    assert.equal(sampleValue(s, PROXY.clientConnectionsAccepted.name), 1);
    assert.equal(sampleValue(s, PROXY.reserveWaiting.name), 2);
    assert.equal(select(s, PROXY.tubePlacement.name).length, 2);
    assert.equal(sampleValue(s, PROXY.tubeSeriesDropped.name), 1);
  });

  test('proxy metrics: one down node keeps the proxy ready; all down or no topology does not', () => {
    assert.equal(
      proxyReadiness(
        source([
          { node: 'n0', up: true },
          { node: 'n1', up: false },
        ]),
      ).ok,
      true,
    );
    assert.deepEqual(proxyReadiness(source([{ node: 'n0', up: false }])), {
      ok: false,
      reason: 'no node reachable (n0)',
    });
    assert.equal(proxyReadiness(source([{ node: 'n0', up: true }], false)).ok, false);
    assert.equal(
      proxyReadiness({ ...source([{ node: 'n0', up: true }]), draining: () => true }).reason,
      'draining',
    );
  });
});

test('metrics: every family is declared once with the prefix and base-unit naming', () => {
  const names = ALL_FAMILIES.map((f) => f.name);
  assert.equal(new Set(names).size, names.length);
  for (const f of ALL_FAMILIES) {
    assert.match(f.name, /^stalkd_[a-z0-9_]+$/);
    assert.equal(f.type === 'counter', f.name.endsWith('_total'), `${f.name}: _total iff counter`);
    if (f.type === 'histogram') assert.match(f.name, /_seconds$/);
  }
});

test('metrics: no family uses a label that service discovery attaches to targets', () => {
  // Kubernetes SD and common relabel configs add these to every scraped series; a family label of
  // the same name would be overwritten (honor_labels: false renames ours to exported_<name>).
  const targetLabels = ['node', 'pod', 'namespace', 'cluster', 'instance', 'job', 'container', 'service'];
  for (const f of ALL_FAMILIES) {
    for (const label of f.labelNames) assert.ok(!targetLabels.includes(label), `${f.name}{${label}}`);
  }
});
