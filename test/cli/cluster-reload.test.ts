/**
 * `stalkd cluster` follows its topology file on SIGHUP (docs/migration.md, "Trying it on one
 * machine"): a node added to the file is started, and only then does the proxy route to it (its
 * proxy follows the file on the cluster's SIGHUP alone, not on the edit); a node removed while
 * it holds jobs keeps running (reported); once it is marked leaving and `stalkd migrate` emptied it,
 * removing it stops it — and its jobs are still served through the proxy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { Client } from '../../src/client';
import { decodeJobId } from '../../src/proxy/job-id';
import { Placement } from '../../src/proxy/ring';
import { parseTopology } from '../../src/proxy/topology';
import { CLI_PATH, freePortRun, runCli } from '../support/cli-process';

/** Resolves once `out()` matches `pattern` (checked on every output chunk of `child`, both streams). */
function waitFor(child: ReturnType<typeof spawn>, out: () => string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pattern.test(out())) return;
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      resolve();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) =>
      reject(new Error(`cluster exited (${code}) waiting for ${pattern}: ${out()}`)),
    );
    check();
  });
}

async function connectWithRetry(port: number): Promise<Client> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const c = await Client.connect({ host: '127.0.0.1', port }).catch(() => undefined);
    if (c) return c;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`nothing listens on ${port}`);
}

test('cluster: SIGHUP starts a node added to the topology, and stops a removed one only once migrate emptied it', async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'stalkd-cluster-hup-'));
  const base = await freePortRun(4);
  const file = path.join(data, 'topology.json');
  const node = (i: number) => ({ name: `node-${i}`, index: i, host: '127.0.0.1', port: base + 1 + i });
  const write = (nodes: object[]) =>
    writeFileSync(file, JSON.stringify({ nodes, proxy: { host: '127.0.0.1', port: base } }));
  write([node(0), node(1)]);
  const child = spawn(
    process.execPath,
    [CLI_PATH, 'cluster', '--topology', file, '--metrics-port', '0', '--data', data],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const collect = (c: Buffer) => {
    out += c.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let client: Client | undefined;
  try {
    await waitFor(child, () => out, /Ctrl-C stops everything\./);
    client = await connectWithRetry(base);
    // A tube node-2 will own: its job is on node-0 or node-1 now.
    const three = parseTopology({ nodes: [node(0), node(1), node(2)] });
    let tube = '';
    for (let i = 0; !tube; i++) if (new Placement(three).ownerOf(`t${i}`).index === 2) tube = `t${i}`;
    await client.use(tube);
    const before = await client.put('put before node-2 came');
    write([node(0), node(1), node(2)]);
    child.kill('SIGHUP');
    await waitFor(child, () => out, /stalkd cluster: node-2 started on 127\.0\.0\.1:\d+/);
    // The proxy re-reads the file on the SIGHUP the cluster passes on once node-2 listens — not on
    // the file's change, which came first: it never routes a tube to a node not running yet (puts
    // of the tube would fail until the SIGHUP), so the first put after the reload lands on node-2.
    await waitFor(child, () => out, /topology reloaded.*nodes=3/);
    assert.ok(out.indexOf('node-2 started') < out.search(/topology reloaded.*nodes=3/), out);
    assert.doesNotMatch(out, /node down node=node-2/);
    const reply = await client.raw('put 0 0 60 5', 'after');
    assert.match(reply.line, /^INSERTED \d+$/);
    const on = decodeJobId(Number(reply.line.split(' ')[1]))?.nodeIndex;
    assert.equal(on, 2, 'the proxy routes the tube to the new node');
    // node-2 leaves the file while it holds jobs: it keeps running.
    write([node(0), node(1)]);
    child.kill('SIGHUP');
    await waitFor(child, () => out, /stalkd cluster: node-2 still holds \d+ jobs: it keeps running/);
    // The way out: leaving, migrate, then out of the file.
    write([node(0), node(1), { ...node(2), leaving: true }]);
    child.kill('SIGHUP');
    const migrate = await runCli(['migrate', '--topology', file, '--json']);
    assert.equal(migrate.status, 0, migrate.stdout + migrate.stderr);
    assert.match(migrate.stdout, /"event":"leaving","node":"node-2","jobs":0,"empty":true/);
    write([node(0), node(1)]);
    child.kill('SIGHUP');
    await waitFor(child, () => out, /stalkd cluster: node-2 stopped: it held nothing/);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(base + 3, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    assert.ok(refused, 'node-2 is gone');
    // Every job is still served through the proxy.
    await client.watch(tube);
    const bodies = new Set<string>();
    for (;;) {
      const job = await client.reserveWithTimeout(1);
      if (typeof job !== 'object') break;
      bodies.add(job.body.toString());
      await client.delete(job.id);
    }
    assert.ok(bodies.has('put before node-2 came') && bodies.has('after'), [...bodies].join(','));
    assert.ok(before > 0);
    await client.close();
    client = undefined;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.equal((await exited)[0], 0, out);
  } finally {
    await client?.close();
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
