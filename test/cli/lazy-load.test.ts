/**
 * A process loads only the subcommand it runs: `stalkd node` never loads the proxy, the dashboard,
 * ws or (without --metrics-port) prom-client; `stalkd proxy` never loads the node's modules, and
 * the dashboard, ws and the client only when it serves the dashboard; and the table main.ts
 * dispatches on names every top-level command of the whole program.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { buildProgram, SUBCOMMANDS } from '../../src/cli/main';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('lazy-load: the dispatch table names exactly the commands of the whole program, in help order', () => {
  const names = buildProgram().commands.map((c) => c.name());
  assert.deepEqual(names, Object.keys(SUBCOMMANDS));
  for (const name of names) {
    const only = buildProgram(name).commands.map((c) => c.name());
    assert.ok(only.includes(name), `${name} registers itself (got ${only.join(', ')})`);
  }
});

/** The modules a fresh process holds after running `stalkd ARGS` up to listening. */
function modulesAfter(args: string[]): string[] {
  const script = `
    const { buildProgram } = require(${JSON.stringify(MAIN)});
    buildProgram(${JSON.stringify(args[0])})
      .parseAsync(['node', 'stalkd', ...${JSON.stringify(args)}])
      .then(() => { process.stdout.write(JSON.stringify(Object.keys(require.cache))); process.exit(0); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test('lazy-load: a running node holds no proxy, dashboard, ws or prom-client module', () => {
  const loaded = modulesAfter(['node', '-l', '127.0.0.1', '-p', '0']);
  assert.ok(
    loaded.some((m) => m.endsWith(path.join('server', 'node-server.js'))),
    'the node server itself is loaded',
  );
  const unwanted = loaded.filter((m) =>
    /[\\/](proxy|dashboard)[\\/]|[\\/]node_modules[\\/](ws|prom-client)[\\/]|[\\/]cli[\\/](proxy|cluster)\.js$/.test(
      m,
    ),
  );
  assert.deepEqual(unwanted, []);
});

/** A port the kernel just handed out (--metrics-port takes a fixed one; 0 means off). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
    server.once('error', reject);
  });
}

test('lazy-load: a node with --metrics-port loads prom-client (the metrics contract is kept)', async () => {
  const port = String(await freePort());
  const loaded = modulesAfter(['node', '-l', '127.0.0.1', '-p', '0', '--metrics-port', port]);
  assert.ok(loaded.some((m) => /[\\/]node_modules[\\/]prom-client[\\/]/.test(m)));
});

/** A proxy in front of a node address nobody listens on (it starts, marks the node down). */
const PROXY = ['proxy', '-l', '127.0.0.1', '-p', '0', '--nodes', '127.0.0.1:1'];

/** What a running proxy must not hold without the dashboard (`metrics`: whether it serves /metrics). */
function proxyUnwanted(loaded: string[], metrics: boolean): string[] {
  const always =
    /[\\/](server|engine|binlog|replication|dashboard|client)[\\/](?!admin-token\.js$)|[\\/]node_modules[\\/]ws[\\/]|[\\/]cli[\\/](node|cluster|migrate|dashboard-move)\.js$/;
  const withoutMetrics = /[\\/]node_modules[\\/]prom-client[\\/]|[\\/]metrics[\\/]/;
  return loaded.filter((m) => always.test(m) || (!metrics && withoutMetrics.test(m)));
}

test('lazy-load: a running proxy holds no node, dashboard, ws, client or prom-client module', () => {
  const loaded = modulesAfter(PROXY);
  assert.ok(
    loaded.some((m) => m.endsWith(path.join('proxy', 'server.js'))),
    'the proxy server itself is loaded',
  );
  assert.deepEqual(proxyUnwanted(loaded, false), []);
});

test('lazy-load: a proxy with --metrics-port --no-dashboard loads prom-client, not the dashboard or ws', async () => {
  const port = String(await freePort());
  const loaded = modulesAfter([...PROXY, '--metrics-port', port, '--no-dashboard']);
  assert.ok(loaded.some((m) => /[\\/]node_modules[\\/]prom-client[\\/]/.test(m)));
  assert.deepEqual(proxyUnwanted(loaded, true), []);
});

test('lazy-load: a proxy serving the dashboard loads it and ws', async () => {
  const port = String(await freePort());
  const loaded = modulesAfter([...PROXY, '--metrics-port', port]);
  for (const wanted of [/[\\/]dashboard[\\/]index\.js$/, /[\\/]node_modules[\\/]ws[\\/]/])
    assert.ok(
      loaded.some((m) => wanted.test(m)),
      `${wanted} is loaded`,
    );
});
