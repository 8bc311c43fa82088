/**
 * What an operator reads: a node's start line (version, addresses, jobs restored, replay time) and
 * stop summary without -V, in JSON when asked; the proxy's node down/up transitions; levels; and
 * never a job body or the admin token in any line.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { connect } from '../../src/client';
import { tempDir } from '../support/binlog-fixtures';
import { freePort } from '../support/cli-process';
import { spawnCli } from '../support/node-process';
import { pollUntil } from '../support/prometheus';

interface Running {
  child: ChildProcess;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

function start(args: string[]): Running {
  const { child, stderr, exited } = spawnCli(args);
  return {
    child,
    stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const exit = await exited;
      return { code: exit.code, stderr: exit.stderr };
    },
  };
}

const lineMatching = (r: Running, re: RegExp) =>
  pollUntil(
    `a line matching ${re}`,
    async () =>
      r
        .stderr()
        .split('\n')
        .find((l) => re.test(l)),
    10_000,
    25,
  );

test('logs: a node without -V prints a JSON start line and stop summary; a restart reports what it restored', async () => {
  const dir = tempDir();
  const port = await freePort();
  const args = ['node', '-l', '127.0.0.1', '-p', String(port), '-b', dir, '--log-format', 'json'];
  try {
    const first = start(args);
    const startLine = JSON.parse(await lineMatching(first, /"msg":"start"/));
    assert.equal(startLine.level, 'info');
    assert.equal(startLine.component, 'node');
    assert.match(startLine.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(startLine.listen, `127.0.0.1:${port}`);
    assert.equal(startLine.binlog, dir);
    assert.equal(startLine.jobs_restored, 0);
    assert.equal(typeof startLine.version, 'string');
    const c = await connect({ host: '127.0.0.1', port });
    for (let i = 0; i < 3; i++) await c.put(`do-not-log-this-body-${i}`);
    await c.close();
    const stopped = await first.stop();
    assert.equal(stopped.code, 0);
    const lines = stopped.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const summary = lines.find((l) => l.msg === 'stopped');
    assert.deepEqual([summary?.reason, summary?.jobs, summary?.exit], ['SIGTERM', 3, 0]);
    assert.ok(
      lines.every((l) => typeof l.ts === 'string' && typeof l.level === 'string'),
      'every line is JSON',
    );

    const second = start(args);
    const again = JSON.parse(await lineMatching(second, /"msg":"start"/));
    assert.equal(again.jobs_restored, 3);
    assert.ok(Number.isInteger(again.replay_ms) && again.replay_ms >= 0);
    const out = await second.stop();
    assert.doesNotMatch(out.stderr, /do-not-log-this-body/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logs: --log-level warn leaves out the start line', async () => {
  const node = start([
    'node',
    '-l',
    '127.0.0.1',
    '-p',
    String(await freePort()),
    '--log-level',
    'warn',
    '-V',
  ]);
  await lineMatching(node, /^bind /);
  const out = await node.stop();
  assert.doesNotMatch(out.stderr, / INFO /);
});

test('logs: the proxy logs a node going down and coming back; no line holds a body or the token', async () => {
  const token = 'admin-secret-8c1e';
  const port = await freePort();
  const nodeArgs = ['node', '-l', '127.0.0.1', '-p', String(port)];
  let node = start(nodeArgs);
  await lineMatching(node, / node start /);
  const proxyPort = await freePort();
  const proxy = start([
    'proxy',
    '-l',
    '127.0.0.1',
    '-p',
    String(proxyPort),
    '--nodes',
    `node-a=127.0.0.1:${port}`,
    '--admin-token',
    token,
    '--metrics-port',
    String(await freePort()),
  ]);
  try {
    await lineMatching(proxy, / proxy start .*nodes=1/);
    const c = await connect({ host: '127.0.0.1', port: proxyPort });
    await c.put('a-secret-body-3f9');
    await node.stop('SIGKILL');
    // The next request (or the proxy's probe) finds the node gone.
    await c.raw('stats').catch(() => undefined);
    await lineMatching(proxy, / WARN {2}proxy node down node=node-a reason=\w+/);
    node = start(nodeArgs);
    await lineMatching(proxy, / INFO {2}proxy node up node=node-a down_ms=\d+/);
    await c.close();
  } finally {
    await node.stop();
    const out = await proxy.stop();
    assert.equal(out.code, 0);
    assert.match(out.stderr, / proxy stopped reason=SIGTERM .*exit=0/);
    assert.doesNotMatch(out.stderr, new RegExp(token), 'the admin token is never logged');
    assert.doesNotMatch(out.stderr, /a-secret-body/, 'job bodies are never logged');
  }
});
