/**
 * `-l unix:PATH` as processes see it, on the node and the proxy, beside Debian's beanstalkd: a
 * stale socket file (its server killed) is replaced at start, another kind of file is refused, a
 * socket a live server accepts on is not taken over, the file is removed at a clean stop, its mode
 * is 0777 & ~umask; healthcheck, metrics and a topology naming nodes by socket path keep working.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { connect } from '../../src/client';
import { CLI_PATH, freePort, httpGet } from '../support/cli-process';
import { startStalkd } from '../support/processes';
import { BEANSTALKD_PATH, startReference } from '../support/reference';

const root = mkdtempSync(join(tmpdir(), 'stalkd-sock-'));
after(() => rmSync(root, { recursive: true, force: true }));
const fresh = (name: string): string => mkdtempSync(join(root, `${name}-`));

function runToExit(args: readonly string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

async function putAndPeek(host: string, body: string): Promise<void> {
  const client = await connect({ host, port: 0 });
  try {
    const id = await client.put(body);
    assert.equal((await client.peek(id))?.body.toString(), body);
  } finally {
    client.close();
  }
}

for (const role of ['node', 'proxy'] as const) {
  test(`unix socket: ${role} replaces a stale socket, refuses a file and a live socket, removes its own at a clean stop`, async () => {
    const dir = fresh(role);
    const backend =
      role === 'proxy' ? await startStalkd(['node', '-l', `unix:${join(dir, 'n.sock')}`]) : null;
    const extra = backend ? ['--nodes', backend.address] : [];
    const path = join(dir, `${role}.sock`);
    try {
      const first = await startStalkd([role, '-l', `unix:${path}`, ...extra]);
      assert.equal(first.address, `unix:${path}`);
      await first.kill(); // SIGKILL: nothing removes the file
      assert.ok(statSync(path).isSocket(), 'a killed server leaves its socket file');
      const second = await startStalkd([role, '-l', `unix:${path}`, ...extra]);
      await second.untilStderr(/WARN .*removing stale socket/);
      await putAndPeek(`unix:${path}`, `${role} over a replaced socket`);
      const thief = runToExit([role, '-l', `unix:${path}`, ...extra]);
      assert.equal(thief.status, 1);
      assert.match(thief.stderr, new RegExp(`stalkd: a server is already listening on unix:${path}\\n$`));
      await putAndPeek(`unix:${path}`, 'still served by the first');
      assert.equal(await second.stop(), 0);
      assert.equal(existsSync(path), false, 'a clean stop removes the socket file');
      writeFileSync(path, 'not a socket');
      const onFile = runToExit([role, '-l', `unix:${path}`, ...extra]);
      assert.equal(onFile.status, 1);
      assert.match(
        onFile.stderr,
        new RegExp(`stalkd: another file already exists at ${path} \\(not a socket\\)\\n$`),
      );
      const long = runToExit([role, '-l', `unix:/${'x'.repeat(107)}`, ...extra]);
      assert.equal(long.status, 1);
      assert.match(long.stderr, /socket path \/x+ is too long \(108 bytes; at most 107\)/);
    } finally {
      await backend?.stop();
    }
  });
}

test('unix socket: beanstalkd too replaces a stale socket file and refuses another kind of file', async (t) => {
  assert.ok(BEANSTALKD_PATH, 'needs beanstalkd (apt-get install beanstalkd), as .ci/run installs it');
  const path = join(fresh('reference'), 'b.sock');
  const first = await startReference([], path);
  first.process.kill('SIGTERM');
  await new Promise((resolve) => first.process.once('exit', resolve));
  assert.ok(statSync(path).isSocket(), 'beanstalkd leaves its socket file when it stops');
  const second = await startReference([], path);
  t.after(() => second.stop());
  await putAndPeek(`unix:${path}`, 'beanstalkd over a replaced socket');
  await second.stop();
  rmSync(path);
  writeFileSync(path, 'not a socket');
  const r = spawnSync(BEANSTALKD_PATH, ['-l', `unix:${path}`], { encoding: 'utf8', timeout: 10_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /another file already exists/);
});

test('unix socket: the file mode is 0777 & ~umask, as bind(2) makes it for beanstalkd', async () => {
  const dir = fresh('mode');
  for (const [umask, mode] of [
    ['007', 0o770],
    ['077', 0o700],
  ] as const) {
    const path = join(dir, `node-${umask}.sock`);
    const node = await startStalkd(['node', '-l', `unix:${path}`], 15_000, {
      command: 'sh',
      prefix: ['-c', `umask ${umask}; exec "$@"`, 'sh'],
    });
    try {
      assert.equal(statSync(path).mode & 0o777, mode, `umask ${umask}`);
    } finally {
      await node.stop();
    }
    assert.ok(BEANSTALKD_PATH, 'needs beanstalkd (apt-get install beanstalkd), as .ci/run installs it');
    const ref = join(dir, `ref-${umask}.sock`);
    const args = ['-c', `umask ${umask}; exec "$@"`, 'sh', BEANSTALKD_PATH, '-V', '-l', `unix:${ref}`];
    const child = spawn('sh', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      while (!out.includes(`bind 3 ${ref}\n`)) {
        const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
        out += chunk.toString();
      }
      assert.equal(statSync(ref).mode & 0o777, mode, `beanstalkd, umask ${umask}`);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

test('unix socket: healthcheck and metrics of a node and a proxy listening on sockets, nodes named by path in a topology', async () => {
  const dir = fresh('ops');
  const nodes = await Promise.all(
    [0, 1].map((i) => startStalkd(['node', '-l', `unix:${join(dir, `n${i}.sock`)}`, '--metrics-port', '0'])),
  );
  const topology = join(dir, 'topology.json');
  writeFileSync(
    topology,
    JSON.stringify({
      nodes: nodes.map((n, index) => ({ name: `n${index}`, index, host: n.address })),
    }),
  );
  const metricsPort = await freePort();
  const proxyPath = join(dir, 'proxy.sock');
  const proxy = await startStalkd([
    'proxy',
    '-l',
    `unix:${proxyPath}`,
    '--topology',
    topology,
    '--metrics-port',
    String(metricsPort),
  ]);
  try {
    await putAndPeek(`unix:${proxyPath}`, 'through sockets end to end');
    const ready = await httpGet(metricsPort, '/readyz');
    assert.equal(ready.status, 200, ready.body);
    const metrics = (await httpGet(metricsPort, '/metrics')).body;
    assert.match(metrics, /stalkd_proxy_backend_up\{[^}]*node="n0"[^}]*\} 1/);
    assert.match(metrics, /stalkd_proxy_backend_up\{[^}]*node="n1"[^}]*\} 1/);
    const placement = JSON.parse((await httpGet(metricsPort, '/placement?tube=default')).body);
    assert.match(placement.host, /^unix:\//);
    for (const [pid, why] of [
      [nodes[0]?.pid, `node, stats on ${nodes[0]?.address}: ok`],
      [proxy.pid, 'proxy, /readyz 200: ok'],
    ]) {
      const r = spawnSync(process.execPath, [CLI_PATH, 'healthcheck', '--pid', String(pid)], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      assert.equal(r.status, 0, r.stdout);
      assert.equal(r.stdout, `healthy: pid ${pid} ${why}\n`);
    }
  } finally {
    await proxy.stop();
    for (const n of nodes) await n.stop();
  }
});
