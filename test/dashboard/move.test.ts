/**
 * The dashboard's "move tube T to node N" (src/cli/dashboard-move.ts): admin token required, bad
 * tube and node names refused precisely with the file untouched, a real move of ready, delayed and
 * buried jobs through the action (the pin written to the topology file, this proxy and a second
 * one following the same file both routing the tube to N, the jobs on N in their states), and a
 * file the proxy may not write refused with the pin to apply by hand (a real proxy process run as
 * an unprivileged user, or a read-only directory when the tests do not run as root).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '../../src/client';
import { Placement } from '../../src/proxy/ring';
import { startProxyServer } from '../../src/proxy/server';
import { loadTopologyFile, parseTopology } from '../../src/proxy/topology';
import { TopologyReloader } from '../../src/proxy/topology-reload';
import { startNodeServer } from '../../src/server/node-server';
import { freePort, startCli } from '../support/cli-process';
import { type DashboardCluster, startDashboardCluster, Viewer } from '../support/dashboard-harness';

const TOKEN = 'move-test-token-7c1e';

describe('dashboard: move tube', () => {
  let d: DashboardCluster;
  let viewer: Viewer;
  before(async () => {
    d = await startDashboardCluster({ adminToken: TOKEN, withTopology: true });
    viewer = await Viewer.open(d.base);
    await viewer.waitFor(() => viewer.hello, 'hello');
  });
  after(async () => {
    viewer?.close();
    await d?.stop();
  });

  const move = (fields: Record<string, unknown>) => viewer.request({ op: 'move-tube', ...fields });
  const fileText = () => readFileSync(d.topologyFile, 'utf8');

  test('dashboard: move needs the admin token; the page is told the action is on', async () => {
    assert.equal((viewer.hello as { move?: boolean }).move, true);
    const before = fileText();
    for (const token of [undefined, 'wrong']) {
      const reply = await move({ tube: 'jobs', node: 'node-1', ...(token ? { token } : {}) });
      assert.deepEqual(
        [reply.ok, reply.code, reply.error],
        [false, 'FORBIDDEN', 'admin token missing or wrong'],
      );
    }
    assert.equal(fileText(), before, 'nothing written');
  });

  test('dashboard: bad tube and node names are refused precisely, the file untouched', async () => {
    const before = fileText();
    const version = d.reloader?.version;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ tube: 'a b', node: 'node-1' }, 'tube names have no spaces or control characters'],
      [{ tube: 'jobs', node: 'node 1' }, 'node must be a node name: 1-64 chars of [A-Za-z0-9._-]'],
      [{ tube: 'jobs' }, 'node must be a node name: 1-64 chars of [A-Za-z0-9._-]'],
      [{ tube: 'jobs', node: 'node-9' }, 'no node "node-9" in the topology (nodes: node-0, node-1, node-2)'],
      [{ tube: '-lead', node: 'node-1' }, `${d.topologyFile}: pins: "-lead" is not a valid tube name`],
    ];
    for (const [fields, error] of cases) {
      const reply = await move({ ...fields, token: TOKEN });
      assert.deepEqual(
        [reply.ok, reply.code, reply.error],
        [false, 'BAD_REQUEST', error],
        JSON.stringify(fields),
      );
    }
    assert.equal(fileText(), before);
    assert.equal(d.reloader?.version, version);
    // A leaving node takes no tubes.
    const doc = JSON.parse(before);
    doc.nodes[2].leaving = true;
    writeFileSync(d.topologyFile, JSON.stringify(doc));
    assert.equal(await d.reloader?.reload(), 'reloaded');
    const leaving = await move({ tube: 'jobs', node: 'node-2', token: TOKEN });
    assert.deepEqual(
      [leaving.code, leaving.error],
      ['BAD_REQUEST', 'node "node-2" is leaving the cluster: it takes no tubes'],
    );
    writeFileSync(d.topologyFile, before);
    assert.equal(await d.reloader?.reload(), 'reloaded');
  });

  test('dashboard: a tube with ready, delayed and buried jobs moves through the action; both proxies route it to the node', async () => {
    // A second proxy over the same nodes, following the same file.
    const second = await startProxyServer({
      port: 0,
      nodes: loadTopologyFile(d.topologyFile).nodes,
      pool: { nodeTimeoutMs: 1000, probeIntervalMs: 200, backoffMinMs: 50, backoffMaxMs: 400 },
    });
    let secondReloaded: () => void = () => {};
    const secondReload = new Promise<void>((resolve) => {
      secondReloaded = resolve;
    });
    const follower = new TopologyReloader(d.topologyFile, loadTopologyFile(d.topologyFile), second, {
      reloaded: () => secondReloaded(),
      refused: (err) => assert.fail(err.message),
    });
    follower.watch();
    const client = await Client.connect({ host: '127.0.0.1', port: d.cluster.proxy.port });
    try {
      const tube = 'invoices';
      const from = d.cluster.proxy.placement.ownerOf(tube);
      const to = `node-${(from.index + 1) % 3}`;
      await client.use(tube);
      for (let i = 0; i < 5; i++) await client.put(`ready-${i}`, { pri: 100 - i });
      for (let i = 0; i < 3; i++) await client.put(`delayed-${i}`, { delaySecs: 600 });
      await client.watch(tube);
      for (let i = 0; i < 2; i++) {
        const id = await client.put(`buried-${i}`, { pri: 7 });
        assert.equal(await client.reserveJob(id).then(() => client.bury(id, 7)), 'BURIED');
      }
      const versionBefore = d.reloader?.version;
      viewer.progress.length = 0;
      const reply = await move({ tube, node: to, token: TOKEN });
      assert.equal(reply.ok, true, reply.error);
      assert.deepEqual(reply.result, { tube, node: to, pinned: true, moved: 10, reservedLeft: 0, left: 0 });
      assert.deepEqual(viewer.progress.at(-1), { type: 'progress', id: reply.id, moved: 10, total: 10 });
      assert.deepEqual(
        viewer.progress[0],
        { type: 'progress', id: reply.id, moved: 0, total: 10 },
        'the plan',
      );
      assert.equal(viewer.progress.length, 11, 'then one progress message per job');
      assert.deepEqual(JSON.parse(fileText()).pins, { [tube]: to }, 'the pin is in the file');
      assert.notEqual(d.reloader?.version, versionBefore, 'the topology version changed');
      assert.equal(d.cluster.proxy.placement.ownerOf(tube).name, to);
      await secondReload;
      assert.equal(second.placement.ownerOf(tube).name, to, 'the other proxy follows the file');
      assert.equal(new Placement(parseTopology(JSON.parse(fileText()))).ownerOf(tube).name, to);
      // The jobs sit on the new owner, in their states; nothing is left on the old one.
      const dest = d.cluster.nodes[Number(to.slice(5))];
      const origin = d.cluster.nodes[from.index];
      const direct = await Client.connect({ host: '127.0.0.1', port: dest?.port as number });
      const old = await Client.connect({ host: '127.0.0.1', port: origin?.port as number });
      const there = await direct.statsTube(tube);
      const left = await old.statsTube(tube);
      await Promise.all([direct.close(), old.close()]);
      assert.deepEqual(
        [there?.['current-jobs-ready'], there?.['current-jobs-delayed'], there?.['current-jobs-buried']],
        [5, 3, 2],
      );
      assert.equal(
        (left?.['current-jobs-ready'] ?? 0) +
          (left?.['current-jobs-delayed'] ?? 0) +
          (left?.['current-jobs-buried'] ?? 0),
        0,
      );
      // Through the proxy: priorities kept, buried jobs still buried.
      const first = await client.reserveWithTimeout(0);
      assert.ok(typeof first === 'object');
      assert.equal(first.body.toString(), 'ready-4', 'the most urgent ready job first');
      assert.equal((await client.peekBuried())?.body.toString(), 'buried-0', 'buried order kept');
      assert.ok(
        d.logged.some((l) => l.includes(`move-tube {"tube":"${tube}","node":"${to}"}: ok`)),
        'audited',
      );
      // Again: the pin is there already, nothing to move.
      const again = await move({ tube, node: to, token: TOKEN });
      assert.deepEqual(again.result, { tube, node: to, pinned: false, moved: 0, reservedLeft: 0, left: 0 });
    } finally {
      await client.close();
      follower.close();
      await second.close();
    }
  });
});

test('dashboard: a topology file the proxy may not write is refused with the pin to apply', async () => {
  const nodes = await Promise.all([0, 1, 2].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-move-ro-'));
  const file = join(dir, 'topology.json');
  const text = JSON.stringify({
    nodes: nodes.map((n, index) => ({ name: `node-${index}`, index, host: '127.0.0.1', port: n.port })),
    pins: { reports: 'node-0' },
  });
  writeFileSync(file, text);
  // As root, the proxy runs as an unprivileged user (-u, as systemd units do) and the file and its
  // directory stay root's; otherwise the directory is made read-only.
  const asRoot = process.geteuid?.() === 0;
  chmodSync(file, 0o644);
  chmodSync(dir, asRoot ? 0o755 : 0o555);
  const [port, metricsPort] = await Promise.all([freePort(), freePort()]);
  const args = ['proxy', '-p', String(port), '--topology', file, '--metrics-port', String(metricsPort)];
  const proxy = await startCli(
    [...args, '--admin-token', TOKEN, ...(asRoot ? ['-u', 'nobody'] : [])],
    metricsPort,
  );
  try {
    const viewer = await Viewer.open(`http://127.0.0.1:${metricsPort}`);
    const reply = await viewer.request({ op: 'move-tube', tube: 'jobs', node: 'node-2', token: TOKEN });
    viewer.close();
    assert.equal(reply.code, 'READ_ONLY', reply.error);
    const error = reply.error ?? '';
    assert.match(error, new RegExp(`^the topology file ${file} cannot be written \\((EACCES|EROFS|EPERM)`));
    assert.ok(error.includes(`set "pins" in ${file} to {"reports":"node-0","jobs":"node-2"}`), error);
    assert.ok(error.includes(`stalkd migrate --topology ${file}`), error);
    assert.match(error, /kubectl apply -k deploy\/k8s\/migrate/);
    assert.equal(readFileSync(file, 'utf8'), text, 'the file is as it was');
  } finally {
    const stopped = await proxy.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    await Promise.all(nodes.map((n) => n.close()));
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  }
});
