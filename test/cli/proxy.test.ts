/** `stalkd proxy` and `stalkd placement` as processes, in front of 3 beanstalkd servers. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI_PATH, freePort, httpGet, startCli } from '../support/cli-process';
import { RawClient } from '../support/proxy-harness';
import { BEANSTALKD_PATH, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () =>
  test('cli: stalkd proxy serves clients, answers /placement, stops cleanly on SIGTERM', async () => {
    const nodes = await Promise.all([startReference(), startReference(), startReference()]);
    const list = nodes.map((n) => `${n.host}:${n.port}`).join(',');
    const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
    const proxy = await startCli(
      [
        'proxy',
        '-l',
        '127.0.0.1',
        '-p',
        String(port),
        '--nodes',
        list,
        '--metrics-port',
        String(metricsPort),
      ],
      metricsPort,
    );
    try {
      const placement = JSON.parse((await httpGet(metricsPort, '/placement?tube=emails')).body) as {
        node: string;
      };
      const cli = spawnSync(process.execPath, [CLI_PATH, 'placement', 'emails', '--nodes', list], {
        encoding: 'utf8',
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.equal(cli.stdout.split('\t')[1], placement.node, 'CLI and admin endpoint agree');
      const c = await RawClient.open(port);
      await c.cmd('use emails');
      const id = await c.put('hello');
      assert.equal((await c.cmd(`peek ${id}`)).body?.toString(), 'hello');
      assert.equal((await httpGet(metricsPort, '/readyz')).status, 200);
      c.close();
    } finally {
      const stopped = await proxy.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }),
);

test('cli: stalkd proxy refuses a bad topology with a message', () => {
  const r = spawnSync(process.execPath, [CLI_PATH, 'proxy', '--nodes', 'no-port-here'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--nodes: "no-port-here" is not HOST:PORT/);
  const both = spawnSync(process.execPath, [CLI_PATH, 'proxy'], { encoding: 'utf8' });
  assert.match(both.stderr, /--nodes HOST:PORT,… or --topology FILE/);
});
