/**
 * `stalkd proxy --topology FILE` follows the file: a ConfigMap-style update (a symlink swapped in
 * the file's directory), SIGHUP, a file that does not validate (refused as a whole, counted) and a
 * node removed while it still holds jobs (refused). Real process, in-process stalkd nodes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeJobId } from '../../src/proxy/job-id';
import { Placement } from '../../src/proxy/ring';
import { parseTopology } from '../../src/proxy/topology';
import { startNodeServer } from '../../src/server/node-server';
import { freePort, httpGet, startCli } from '../support/cli-process';
import { pollUntil } from '../support/prometheus';
import { RawClient } from '../support/proxy-harness';

type NodeSpec = { name: string; index: number; host: string; port: number; leaving?: boolean };

/** Writes `doc` the way the kubelet updates a mounted ConfigMap: new dir, symlink swap. */
function swapConfigMap(dir: string, doc: unknown, generation: number): void {
  const data = join(dir, `..v${generation}`);
  mkdirSync(data);
  writeFileSync(join(data, 'topology.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
  symlinkSync(`..v${generation}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

async function metric(port: number, pattern: RegExp): Promise<number | undefined> {
  const text = (await httpGet(port, '/metrics')).body;
  const m = pattern.exec(text);
  return m ? Number(m[1]) : undefined;
}

test('cli: the proxy reloads its topology on a ConfigMap update and SIGHUP, refusing bad files whole', async () => {
  const servers = await Promise.all([0, 1, 2, 3].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
  const nodes: NodeSpec[] = servers.map((s, index) => ({
    name: `node-${index}`,
    index,
    host: '127.0.0.1',
    port: s.port,
  }));
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-reload-'));
  swapConfigMap(dir, { nodes: nodes.slice(0, 3) }, 1);
  symlinkSync('..data/topology.json', join(dir, 'topology.json'));
  const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
  const proxy = await startCli(
    [
      'proxy',
      '-p',
      String(port),
      '--topology',
      join(dir, 'topology.json'),
      '--metrics-port',
      String(metricsPort),
    ],
    metricsPort,
  );
  const reloads = (result: string) =>
    metric(
      metricsPort,
      new RegExp(`^stalkd_proxy_topology_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm'),
    );
  const waitReloads = (result: string, count: number) =>
    pollUntil(
      `${count} ${result} reloads`,
      async () => ((await reloads(result)) === count ? true : undefined),
      10_000,
    );
  try {
    const a = new Placement(parseTopology({ nodes: nodes.slice(0, 3) }));
    const b = new Placement(parseTopology({ nodes }));
    let tube = '';
    for (let i = 0; !tube; i++) if (a.ownerOf(`r-${i}`).index !== b.ownerOf(`r-${i}`).index) tube = `r-${i}`;
    const c = await RawClient.open(port);
    await c.cmd(`use ${tube}`);
    const before = await c.put('before');
    const versionBefore = await metric(metricsPort, /^stalkd_proxy_topology_version (\d+)$/m);

    swapConfigMap(dir, { nodes }, 2);
    await waitReloads('ok', 1);
    assert.notEqual(await metric(metricsPort, /^stalkd_proxy_topology_version (\d+)$/m), versionBefore);
    assert.equal(decodeJobId(await c.put('after'))?.nodeIndex, 3, 'puts go to the new owner');
    assert.equal(await metric(metricsPort, /^stalkd_proxy_tubes_with_previous_owners (\d+)$/m), 1);
    assert.equal(
      await metric(metricsPort, /^stalkd_proxy_jobs_on_non_owners\{stalkd_node="node-[0-2]"\} ([1-9]\d*)$/m),
      1,
    );
    await c.cmd(`watch ${tube}`);
    await c.cmd('ignore default');
    const r = await c.cmd('reserve-with-timeout 0');
    assert.equal(r.line, `RESERVED ${before} 6`, 'the job on the old owner is reserved through the proxy');

    swapConfigMap(dir, '{"nodes": [', 3);
    await waitReloads('failed', 1);
    const held = await RawClient.open(servers[0]?.port as number);
    await held.put('on node-0');
    swapConfigMap(dir, { nodes: nodes.slice(1) }, 4); // node-0 leaves the file while holding a job
    await waitReloads('failed', 2);
    assert.equal(decodeJobId(await c.put('still'))?.nodeIndex, 3, 'the refused files changed nothing');
    assert.match(proxy.stderr(), /topology refused.*invalid JSON/);
    assert.match(proxy.stderr(), /node-0.*left the file holding \d+ jobs/);

    // SIGHUP: node-0 marked leaving is taken (it owns nothing, its jobs stay reachable).
    writeFileSync(
      join(dir, '..v4', 'topology.json'),
      JSON.stringify({ nodes: [{ ...nodes[0], leaving: true }, ...nodes.slice(1)] }),
    );
    proxy.child.kill('SIGHUP');
    await waitReloads('ok', 2);
    held.close();
    c.close();
  } finally {
    const stopped = await proxy.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
