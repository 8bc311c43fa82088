import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { Client } from '../../src/client';
import { freePortRun } from '../support/cli-process';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('cluster: stalkd cluster starts nodes with binlogs and a proxy, serves clients, stops cleanly on SIGTERM', async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'stalkd-cluster-'));
  const base = await freePortRun(3);
  const child = spawn(
    process.execPath,
    [CLI, 'cluster', '--nodes', '3', '-p', String(base), '--metrics-port', '0', '--data', data],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ctrl-C stops everything.')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`cluster exited early (${code}): ${out}`)));
    });
    assert.match(out, new RegExp(`proxy +beanstalkd protocol on 127\\.0\\.0\\.1:${base}`));
    for (let i = 0; i < 3; i++)
      assert.match(out, new RegExp(`node-${i} +127\\.0\\.0\\.1:${base + 1 + i} +binlog`));
    // The proxy opens its port once every node answered its first probe: retry the connect, bounded.
    let client: Client | undefined;
    for (let attempt = 0; attempt < 200 && !client; attempt++) {
      client = await Client.connect({ host: '127.0.0.1', port: base }).catch(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return undefined;
      });
    }
    assert.ok(client, 'the proxy accepted a connection');
    const tubes = ['alpha', 'beta', 'gamma', 'delta'];
    for (const tube of tubes) {
      await client.use(tube);
      await client.put(`job in ${tube}`);
      await client.watch(tube);
    }
    await client.ignore('default');
    const seen = new Set<string>();
    for (let i = 0; i < tubes.length; i++) {
      const job = await client.reserveWithTimeout(0);
      assert.ok(typeof job === 'object', `reserve ${i} got a job`);
      seen.add(job.body.toString());
      assert.equal(await client.delete(job.id), 'DELETED');
    }
    assert.equal(seen.size, tubes.length);
    await client.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, out);
    assert.match(out, /stalkd cluster: stopped/);
    assert.deepEqual(readdirSync(data).sort(), ['node-0', 'node-1', 'node-2', 'topology.json']);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});

test("cluster: a node that fails at start-up (its port taken) stops the cluster with the node's own error", async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'stalkd-cluster-'));
  const base = await freePortRun(3);
  // Something else holds node-1's port: the node cannot listen, yet the port accepts connections.
  const squatter = net.createServer((socket) => socket.destroy());
  squatter.listen(base + 2, '127.0.0.1');
  await once(squatter, 'listening');
  const child = spawn(
    process.execPath,
    [CLI, 'cluster', '--nodes', '3', '-p', String(base), '--metrics-port', '0', '--data', data],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  // The old launcher waited up to 30 s per node, or ran on with the port's holder: bounded well below.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    const [code, signal] = await once(child, 'exit');
    assert.equal(signal, null, `the cluster did not stop by itself: ${out}`);
    assert.equal(code, 1, out);
    assert.match(out, /EADDRINUSE/, "the node's own error is shown");
    assert.match(out, /stalkd cluster: node-1 exited \(1\) during start-up/);
    assert.doesNotMatch(out, /Ctrl-C stops everything/);
  } finally {
    clearTimeout(deadline);
    if (child.exitCode === null) child.kill('SIGKILL');
    await new Promise((resolve) => squatter.close(resolve));
    rmSync(data, { recursive: true, force: true });
  }
});
