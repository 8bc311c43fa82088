/**
 * Node failure through the proxy: a killed node under load — `stalkd node -b DIR -f 0` through the
 * CLI, and Debian's beanstalkd with its binlog — a node that accepts but never answers, and
 * recovery without restarting the proxy. At the end of each, every acknowledged put is found
 * again (test/proxy-restart.test.ts restarts the proxy itself).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ProxyServer, startProxyServer } from '../../src/proxy/server';
import { startCli } from '../support/cli-process';
import { RawClient, tubesPerNode } from '../support/proxy-harness';
import { BEANSTALKD_PATH, type ReferenceServer, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

const POOL = { nodeTimeoutMs: 800, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 200 };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}

/** Polls until `check` passes, at most `attempts` × 100 ms. */
async function eventually(check: () => Promise<boolean>, attempts = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('condition not reached in time');
}

/** Starts node i (0..2) on its fixed port with its binlog under `dir`, fsync on every write. */
interface NodeLauncher {
  start(i: number): Promise<{ stop(): Promise<void> }>;
}

function stockLauncher(dir: string, ports: number[]): NodeLauncher {
  return { start: (i) => startReference(['-b', join(dir, `n${i}`), '-f', '0', '-p', String(ports[i])]) };
}

/** stalkd nodes through the CLI (`stalkd node -b DIR -f 0`); killed with SIGKILL. */
function stalkdLauncher(dir: string, ports: number[], metricsPorts: number[]): NodeLauncher {
  return {
    start: async (i) => {
      const args = ['node', '-l', '127.0.0.1', '-p', String(ports[i]), '-b', join(dir, `n${i}`), '-f', '0'];
      const cli = await startCli(
        [...args, '--metrics-port', String(metricsPorts[i])],
        metricsPorts[i] as number,
      );
      return {
        stop: async () => {
          cli.child.kill('SIGKILL');
          await cli.stop();
        },
      };
    },
  };
}

async function killedNodeScenario(kind: 'stock' | 'stalkd'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-failure-'));
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  for (const i of [0, 1, 2]) mkdirSync(join(dir, `n${i}`));
  const launcher =
    kind === 'stock'
      ? stockLauncher(dir, ports)
      : stalkdLauncher(dir, ports, await Promise.all([freePort(), freePort(), freePort()]));
  const nodes = await Promise.all([0, 1, 2].map((i) => launcher.start(i)));
  const start = (i: number) => launcher.start(i);
  const proxy = await startProxyServer({
    port: 0,
    nodes: ports.map((port, index) => ({ index, name: `node-${index}`, host: '127.0.0.1', port })),
    pool: POOL,
  });
  const tubes = tubesPerNode(proxy, 3, 1, 'f');
  const [t0, t1, t2] = [tubes[0]?.[0], tubes[1]?.[0], tubes[2]?.[0]] as string[];
  const p = await RawClient.open(proxy.port);
  await p.cmd(`use ${t1}`);
  const acked: number[] = [];
  for (let i = 0; i < 50; i++) acked.push(await p.put(`t1-${i}`));

  // Load on the other nodes while node 1 dies.
  let stop = false;
  let loadPuts = 0;
  const loadAcked: number[] = [];
  const loadErrors: string[] = [];
  const load = (async () => {
    const c = await RawClient.open(proxy.port);
    for (let i = 0; !stop; i++) {
      await c.cmd(`use ${i % 2 ? t0 : t2}`);
      const r = await c.cmd('put 0 0 60 4', 'load');
      if (r.line.startsWith('INSERTED')) {
        loadPuts++;
        loadAcked.push(Number(r.line.split(' ')[1]));
      } else loadErrors.push(r.line);
    }
    c.close();
  })();
  await eventually(async () => loadPuts >= 3);
  await (nodes[1] as { stop(): Promise<void> }).stop();
  const putsAtStop = loadPuts;

  const failed = await timed(p.cmd('put 0 0 60 1', 'x'));
  assert.equal(failed.value.line, 'INTERNAL_ERROR');
  assert.ok(
    failed.ms < POOL.nodeTimeoutMs,
    `INTERNAL_ERROR after ${failed.ms} ms, not at once but after the node timeout`,
  );
  assert.equal((await p.cmd(`peek ${acked[0]}`)).line, 'INTERNAL_ERROR');
  assert.equal((await p.cmd(`stats-tube ${t1}`)).line, 'INTERNAL_ERROR');
  const w = await RawClient.open(proxy.port);
  await w.cmd(`watch ${t0}`);
  await w.cmd(`watch ${t1}`);
  await w.cmd('ignore default');
  const fromLive = await w.cmd('reserve-with-timeout 2');
  assert.match(fromLive.line, /^RESERVED /, 'reserve carries on with the live nodes');
  await w.cmd(`release ${fromLive.line.split(' ')[1]} 0 0`);
  assert.match((await p.cmd('stats')).line, /^OK /, 'stats stays available');

  // The other nodes' tubes keep taking puts while node 1 is down (waited for, not timed).
  await eventually(async () => loadPuts >= putsAtStop + 10 || loadErrors.length > 0);
  assert.deepEqual(loadErrors, [], 'puts to other nodes never failed during the outage');
  nodes[1] = await start(1);
  await eventually(async () => (await p.cmd(`stats-tube ${t1}`)).line.startsWith('OK '));
  stop = true;
  await load;
  assert.deepEqual(loadErrors, [], 'puts to other nodes never failed');
  const c = await RawClient.open(proxy.port);
  await c.cmd(`watch ${t1}`);
  await c.cmd('ignore default');
  const back = new Set<number>();
  for (;;) {
    const r = await c.cmd('reserve-with-timeout 0');
    if (r.line === 'TIMED_OUT') break;
    back.add(Number(r.line.split(' ')[1]));
  }
  assert.deepEqual(
    [...back].sort((a, b) => a - b),
    [...acked].sort((a, b) => a - b),
    'every acknowledged job is back',
  );
  // The puts to the live nodes during the outage are all there too (and nothing else).
  await c.cmd(`watch ${t0}`);
  await c.cmd(`watch ${t2}`);
  await c.cmd(`ignore ${t1}`);
  const live = new Set<number>();
  for (let i = 0; i <= loadAcked.length; i++) {
    const r = await c.cmd('reserve-with-timeout 0');
    if (r.line === 'TIMED_OUT') break;
    live.add(Number(r.line.split(' ')[1]));
  }
  assert.deepEqual(
    [...live].sort((a, b) => a - b),
    [...loadAcked].sort((a, b) => a - b),
    'every put acknowledged during the outage is there',
  );
  for (const x of [p, w, c]) x.close();
  await proxy.close();
  await Promise.all(nodes.map((n) => n.stop()));
}

describe('node failure', () => {
  test('failure: a killed stalkd node (-f 0) fails fast, other tubes keep working, its jobs return after restart', () =>
    killedNodeScenario('stalkd'));

  whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () => {
    test('failure: a killed beanstalkd (-f 0) fails fast, other tubes keep working, its jobs return after restart', () =>
      killedNodeScenario('stock'));

    test('failure: a node that accepts but never answers is timed out and marked down', async () => {
      const real = await Promise.all([startReference(), startReference(), startReference()]);
      const freezer = await startFreezer(real[2] as ReferenceServer);
      const proxy: ProxyServer = await startProxyServer({
        port: 0,
        nodes: [
          { index: 0, name: 'node-0', host: '127.0.0.1', port: (real[0] as ReferenceServer).port },
          { index: 1, name: 'node-1', host: '127.0.0.1', port: (real[1] as ReferenceServer).port },
          { index: 2, name: 'node-2', host: '127.0.0.1', port: freezer.port },
        ],
        pool: POOL,
      });
      const tubes = tubesPerNode(proxy, 3, 1, 'h');
      const c = await RawClient.open(proxy.port);
      await c.cmd(`use ${tubes[2]?.[0]}`);
      assert.match((await c.cmd('put 0 0 60 1', 'a')).line, /^INSERTED /);
      freezer.frozen = true;
      const hung = await timed(c.cmd('put 0 0 60 1', 'b'));
      assert.equal(hung.value.line, 'INTERNAL_ERROR');
      assert.ok(hung.ms >= 700 && hung.ms < 2000, `timed out after ${hung.ms} ms`);
      assert.equal(proxy.pool.get(2)?.up, false);
      const again = await timed(c.cmd('put 0 0 60 1', 'c'));
      assert.equal(again.value.line, 'INTERNAL_ERROR');
      assert.ok(again.ms < 300, 'a down node fails at once');
      await c.cmd(`use ${tubes[0]?.[0]}`);
      assert.match((await c.cmd('put 0 0 60 1', 'd')).line, /^INSERTED /);
      freezer.frozen = false;
      await eventually(async () => proxy.pool.get(2)?.up === true);
      await c.cmd(`use ${tubes[2]?.[0]}`);
      assert.match((await c.cmd('put 0 0 60 1', 'e')).line, /^INSERTED /);
      // Acknowledged: a (before the freeze), d and e; b timed out and never reached the node.
      await c.cmd(`watch ${tubes[0]?.[0]}`);
      await c.cmd(`watch ${tubes[2]?.[0]}`);
      await c.cmd('ignore default');
      const bodies: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await c.cmd('reserve-with-timeout 0');
        if (r.line === 'TIMED_OUT') break;
        bodies.push(r.body?.toString() ?? '');
      }
      assert.deepEqual(bodies.sort(), ['a', 'd', 'e'], 'every acknowledged put is there');
      c.close();
      await proxy.close();
      freezer.server.close();
      await Promise.all(real.map((n) => n.stop()));
    });
  });
});

/** A TCP relay to a real node that can stop relaying (the node then "accepts but never answers"). */
async function startFreezer(
  target: ReferenceServer,
): Promise<{ port: number; frozen: boolean; server: Server }> {
  const state = { port: 0, frozen: false, server: undefined as unknown as Server };
  state.server = createServer((client: Socket) => {
    const upstream = netConnect({ host: target.host, port: target.port });
    client.on('data', (chunk: Buffer) => {
      if (!state.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!state.frozen) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (state.server.address() as { port: number }).port;
  return state;
}
