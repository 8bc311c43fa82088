/**
 * `stalkd healthcheck`: finds what to ask from the checked process's own command line and
 * environment (/proc), never from flags of its own — /readyz when metrics are on, `stats` over the
 * protocol port when they are off; a draining node is unhealthy; a process that is not a stalkd
 * node or proxy is reported as such.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { tempDir } from '../support/binlog-fixtures';
import { CLI_PATH, freePort, httpGet, startCli } from '../support/cli-process';
import { startNode } from '../support/node-process';
import { pollUntil } from '../support/prometheus';

function healthcheck(pid: number): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [CLI_PATH, 'healthcheck', '--pid', String(pid)], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: r.status, stdout: r.stdout };
}

test('healthcheck: metrics on — /readyz of the port the process was given; draining is unhealthy', async () => {
  const dir = tempDir();
  const metricsPort = await freePort();
  const node = await startCli(
    ['node', '-l', '127.0.0.1', '-p', '0', '-b', dir, '--metrics-port', String(metricsPort)],
    metricsPort,
  );
  const pid = node.child.pid as number;
  try {
    const ok = healthcheck(pid);
    assert.equal(ok.status, 0, ok.stdout);
    assert.equal(ok.stdout, `healthy: pid ${pid} node, /readyz 200: ok\n`);
    node.child.kill('SIGUSR1');
    await pollUntil(
      'draining',
      async () => ((await httpGet(metricsPort, '/readyz')).status === 503 ? true : undefined),
      5000,
    );
    const draining = healthcheck(pid);
    assert.equal(draining.status, 1);
    assert.equal(draining.stdout, `unhealthy: pid ${pid} node, /readyz 503: not ready: draining\n`);
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('healthcheck: metrics off — `stats` over the protocol port; a drain shows there too', async () => {
  const dir = tempDir();
  const port = await freePort();
  const node = await startNode(dir, ['-p', String(port)]);
  try {
    const ok = healthcheck(node.pid);
    assert.equal(ok.status, 0, ok.stdout);
    assert.equal(ok.stdout, `healthy: pid ${node.pid} node, stats on 127.0.0.1:${port}: ok\n`);
    node.child.kill('SIGUSR1');
    await pollUntil('draining', async () => (healthcheck(node.pid).status === 1 ? true : undefined), 5000);
    assert.match(healthcheck(node.pid).stdout, /stats on 127\.0\.0\.1:\d+: draining/);
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('healthcheck: a proxy configured only by environment variables is asked where it listens', async () => {
  const dir = tempDir();
  const node = await startNode(dir);
  const metricsPort = await freePort();
  const proxy = spawn(
    process.execPath,
    [CLI_PATH, 'proxy', '-l', '127.0.0.1', '-p', '0', '--nodes', `127.0.0.1:${node.port}`],
    {
      env: { ...process.env, STALKD_METRICS_PORT_NUMBER: String(metricsPort) },
      stdio: 'ignore',
    },
  );
  try {
    await pollUntil(
      'proxy ready',
      async () =>
        (await httpGet(metricsPort, '/readyz').catch(() => ({ status: 0 }))).status === 200
          ? true
          : undefined,
      10_000,
    );
    const ok = healthcheck(proxy.pid as number);
    assert.equal(ok.status, 0, ok.stdout);
    assert.equal(ok.stdout, `healthy: pid ${proxy.pid} proxy, /readyz 200: ok\n`);
  } finally {
    const exited = once(proxy, 'exit');
    proxy.kill('SIGTERM');
    await exited;
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('healthcheck: a process that is not a stalkd node or proxy is unhealthy, named as such', () => {
  const r = healthcheck(process.pid);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, `unhealthy: no stalkd node or proxy process with pid ${process.pid}\n`);
});
