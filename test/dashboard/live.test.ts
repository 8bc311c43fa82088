/**
 * The proxy's live dashboard without a browser: snapshot/diff arithmetic, safe body views, the
 * token check, the slow-viewer rule, and the WebSocket end to end against a proxy over three
 * stalkd nodes (table updates after puts, peeks with proxy ids, admin actions with and without
 * the token, clear with progress).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Client } from '../../src/client';
import { hexDump, viewBody } from '../../src/client/job-view';
import { AdminToken } from '../../src/dashboard/admin-token';
import { Delivery, deliveryFor } from '../../src/dashboard/live-hub';
import { RateTracker } from '../../src/dashboard/rates';
import { applyDiff, diffSnapshots, type Snapshot, type TubeRow } from '../../src/dashboard/snapshot';
import { startNodeServer } from '../../src/server/node-server';
import { freePort, startCli } from '../support/cli-process';
import { type DashboardCluster, startDashboardCluster, Viewer } from '../support/dashboard-harness';

function tubeRow(name: string, ready: number): TubeRow {
  return {
    key: `0/${name}`,
    name,
    node: 0,
    owner: 0,
    stray: false,
    urgent: 0,
    ready,
    reserved: 0,
    delayed: 0,
    buried: 0,
    totalJobs: ready,
    using: 0,
    watching: 0,
    waiting: 0,
    pauseSecs: 0,
    pauseLeftSecs: 0,
    putPerSec: null,
    reservePerSec: null,
    deletePerSec: null,
  };
}

function snapshotOf(seq: number, tubes: TubeRow[]): Snapshot {
  return { seq, atMs: seq * 1000, nodes: [], tubes, tubesNotShown: 0 };
}

describe('dashboard: pieces', () => {
  test('dashboard: a diff carries only changed fields, new rows whole, and removed keys', () => {
    const a = snapshotOf(1, [tubeRow('a', 1), tubeRow('b', 2)]);
    const b = snapshotOf(2, [tubeRow('a', 5), tubeRow('c', 0)]);
    const diff = diffSnapshots(a, b);
    assert.deepEqual(diff.tubes.remove, ['0/b']);
    assert.deepEqual(diff.tubes.upsert[0], { key: '0/a', ready: 5, totalJobs: 5 });
    assert.deepEqual(diff.tubes.upsert[1], tubeRow('c', 0));
    const applied = applyDiff(a, diff);
    assert.deepEqual(
      applied.tubes.sort((x, y) => x.key.localeCompare(y.key)),
      b.tubes,
    );
    assert.deepEqual(diffSnapshots(b, b).tubes, { upsert: [], remove: [] });
  });

  test('dashboard: rates per second from counters; a reset counter restarts the series', () => {
    const r = new RateTracker();
    assert.equal(r.rate('k', 10, 1000), null);
    assert.equal(r.rate('k', 30, 3000), 10);
    assert.equal(r.rate('k', 5, 4000), null, 'counter went down: no negative rate');
    assert.equal(r.rate('k', 6, 4500), 2);
    assert.equal(r.flow('f', 10, 0), null);
    assert.equal(r.flow('f', 4, 1000), 0, 'a flow never goes negative');
    r.sweep();
    r.sweep();
    assert.equal(r.rate('k', 100, 9000), null, 'unread keys are forgotten after a sweep');
  });

  test('dashboard: bodies show as text when clean UTF-8, else as hex; capped at a character boundary', () => {
    assert.deepEqual(viewBody(Buffer.from('hello\nworld')), {
      bytes: 11,
      shownBytes: 11,
      truncated: false,
      encoding: 'text',
      content: 'hello\nworld',
    });
    const escaped = viewBody(Buffer.from('\x1b[31mred'));
    assert.equal(escaped.encoding, 'hex', 'an ESC sequence is never shown as text');
    assert.match(escaped.content, /^00000000 {2}1b 5b 33 31 6d 72 65 64 {2}/);
    assert.equal(viewBody(Buffer.from([0xc2, 0x85])).encoding, 'hex', 'C1 control (NEL) counts as binary');
    assert.equal(viewBody(Buffer.from([0xff, 0xfe, 0x00])).encoding, 'hex');
    const euro = Buffer.from('€€€'); // 3 bytes each
    const cut = viewBody(euro, 4);
    assert.deepEqual([cut.encoding, cut.content, cut.shownBytes, cut.truncated], ['text', '€', 3, true]);
    const markup = viewBody(Buffer.from('<img src=x onerror=alert(1)>'));
    assert.equal(
      markup.content,
      '<img src=x onerror=alert(1)>',
      'markup stays text; the page uses textContent',
    );
    assert.equal(hexDump(Buffer.alloc(17)).split('\n').length, 2);
  });

  test('dashboard: the admin token matches only itself; empty means admin off', () => {
    const token = new AdminToken('s3cret');
    assert.equal(token.enabled, true);
    assert.equal(token.matches('s3cret'), true);
    for (const wrong of ['s3cre', 's3cret ', '', undefined, 42, null, 'x'.repeat(5000)]) {
      assert.equal(token.matches(wrong), false, `rejects ${String(wrong).slice(0, 10)}`);
    }
    assert.equal(new AdminToken('').enabled, false);
    assert.equal(new AdminToken(undefined).matches(''), false);
  });

  test('dashboard: a viewer behind is skipped, then gets a full snapshot, and is dropped after the grace', () => {
    const limits = { softBufferBytes: 100, slowGraceMs: 1000 };
    const pace = { needsFull: false, slowSinceMs: null as number | null };
    assert.equal(deliveryFor(pace, 0, true, 0, limits), Delivery.Diff);
    assert.equal(deliveryFor(pace, 101, true, 10, limits), Delivery.Skip);
    assert.equal(deliveryFor(pace, 500, true, 900, limits), Delivery.Skip);
    assert.equal(deliveryFor(pace, 0, true, 1000, limits), Delivery.Full, 'caught up: one full snapshot');
    pace.needsFull = false;
    assert.equal(deliveryFor(pace, 0, true, 1100, limits), Delivery.Diff);
    assert.equal(deliveryFor(pace, 101, true, 2000, limits), Delivery.Skip);
    assert.equal(deliveryFor(pace, 101, true, 3001, limits), Delivery.Drop);
    assert.equal(deliveryFor({ needsFull: false, slowSinceMs: null }, 0, false, 0, limits), Delivery.Full);
  });
});

function get(base: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      http
        .get(`${base}${path}`, { headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        })
        .on('error', reject);
    },
  );
}

describe('dashboard: over a proxy in front of 3 stalkd nodes', () => {
  const TOKEN = 'test-admin-token-7f3a';
  let d: DashboardCluster;
  let client: Client;

  before(async () => {
    d = await startDashboardCluster({ adminToken: TOKEN, peekBodyBytes: 64 });
    client = await Client.connect({ host: '127.0.0.1', port: d.cluster.proxy.port });
  });
  after(async () => {
    await client.close();
    await d.stop();
  });

  test('dashboard: serves the page with a strict CSP, redirects / and keeps /metrics', async () => {
    const page = await get(d.base, '/dashboard/');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.body, /<script src="dashboard\.js" defer><\/script>/);
    assert.equal((await get(d.base, '/dashboard/dashboard.js')).status, 200);
    assert.equal((await get(d.base, '/dashboard/dashboard.css')).status, 200);
    const root = await get(d.base, '/');
    assert.deepEqual([root.status, root.headers.location], [302, '/dashboard/']);
    assert.equal((await get(d.base, '/metrics')).status, 200);
  });

  test('dashboard: every node and tube in the first snapshot; puts show up in a later diff', async () => {
    const viewer = await Viewer.open(d.base);
    try {
      await viewer.waitFor(() => viewer.snapshot, 'first snapshot');
      assert.equal(viewer.hello?.admin, true);
      const nodes = viewer.snapshot?.nodes ?? [];
      assert.deepEqual(
        nodes.map((n) => [n.name, n.up, n.reachable, n.kind]),
        [0, 1, 2].map((i) => [`node-${i}`, true, true, 'stalkd']),
      );
      await client.use('orders');
      for (let i = 0; i < 3; i++) await client.put(`order-${i}`);
      const key = d.ownerKey('orders');
      const row = await viewer.waitFor(
        () => (viewer.tube(key)?.ready === 3 ? viewer.tube(key) : undefined),
        'ready 3',
      );
      assert.equal(row.owner, d.cluster.proxy.placement.ownerOf('orders').index);
      assert.equal(row.stray, false);
      assert.ok(viewer.kinds.includes('diff'), 'updates after the first come as diffs');
      await viewer.waitFor(
        () => (viewer.tube(key)?.putPerSec !== null ? viewer.tube(key) : undefined),
        'a put rate',
      );
      // Puts between two samples show as a positive rate (before them the rate may be 0).
      for (let i = 3; i < 6; i++) await client.put(`order-${i}`);
      await viewer.waitFor(
        () => ((viewer.tube(key)?.putPerSec ?? 0) > 0 ? viewer.tube(key) : undefined),
        'a positive put rate',
      );
      assert.ok(!viewer.snapshot?.tubes.some((t) => t.name === 'stalkd.parking'), 'parking tube hidden');
      // The collector's connections are parked: clients see nobody extra watching `default`.
      const def = await client.statsTube('default');
      assert.equal(def?.['current-watching'], 1, 'only this test client watches default');
    } finally {
      viewer.close();
    }
  });

  test('dashboard: peek shows the job with the id clients see, binary as hex, capped', async () => {
    const viewer = await Viewer.open(d.base);
    try {
      await client.use('peeks');
      const id = await client.put(Buffer.concat([Buffer.from([0, 1, 2, 0x1b]), Buffer.alloc(100, 0x41)]));
      const reply = await viewer.request({ op: 'peek', tube: 'peeks', state: 'ready', token: TOKEN });
      assert.equal(reply.ok, true, reply.error);
      const job = reply.result?.job as {
        id: number;
        body: { encoding: string; truncated: boolean; bytes: number };
      };
      assert.equal(job.id, id);
      assert.deepEqual([job.body.encoding, job.body.truncated, job.body.bytes], ['hex', true, 104]);
      const none = await viewer.request({ op: 'peek', tube: 'peeks', state: 'buried', token: TOKEN });
      assert.deepEqual([none.ok, none.result?.job], [true, null]);
      const bad = await viewer.request({ op: 'peek', tube: 'bad tube', state: 'ready', token: TOKEN });
      assert.deepEqual([bad.ok, bad.code], [false, 'BAD_REQUEST']);
    } finally {
      viewer.close();
    }
  });

  test('dashboard: admin actions are refused without the token and done with it', async () => {
    const viewer = await Viewer.open(d.base);
    try {
      await client.use('admin');
      const id = await client.put('x');
      for (const token of [undefined, '', 'wrong', `${TOKEN}x`]) {
        const r = await viewer.request({ op: 'delete', jobId: id, token });
        assert.deepEqual([r.ok, r.code], [false, 'FORBIDDEN']);
      }
      assert.ok(await client.peek(id), 'still there');
      const paused = await viewer.request({ op: 'pause', tube: 'admin', delaySecs: 30, token: TOKEN });
      assert.equal(paused.ok, true, paused.error);
      assert.ok(((await client.statsTube('admin'))?.pause ?? 0) > 0);
      const key = d.ownerKey('admin');
      await viewer.waitFor(() => (viewer.tube(key)?.pauseLeftSecs ?? 0) > 0, 'paused in the table');
      assert.equal(
        (await viewer.request({ op: 'pause', tube: 'admin', delaySecs: 0, token: TOKEN })).ok,
        true,
      );
      const del = await viewer.request({ op: 'delete', jobId: String(id), token: TOKEN });
      assert.deepEqual([del.ok, await client.peek(id)], [true, null]);
      const again = await viewer.request({ op: 'delete', jobId: id, token: TOKEN });
      assert.deepEqual([again.ok, again.code], [false, 'NOT_FOUND']);
    } finally {
      viewer.close();
    }
  });

  test('dashboard: kick and clear (with progress) through the proxy', async () => {
    const viewer = await Viewer.open(d.base);
    try {
      await client.use('bulk');
      for (let i = 0; i < 5; i++) await client.put(`d${i}`, { delaySecs: 3600 });
      for (let i = 0; i < 450; i++) void client.put(`r${i}`);
      await client.put('last');
      const kicked = await viewer.request({ op: 'kick', tube: 'bulk', bound: 2, token: TOKEN });
      assert.deepEqual(kicked.result, { kicked: 2 });
      const cleared = await viewer.request({ op: 'clear', tube: 'bulk', token: TOKEN });
      assert.equal(cleared.ok, true, cleared.error);
      assert.deepEqual(cleared.result, { tube: 'bulk', deleted: 456, total: 456, reservedLeft: 0 });
      assert.ok(viewer.progress.length >= 3, 'progress reported per batch');
      assert.deepEqual(viewer.progress.at(-1), { type: 'progress', id: 2, deleted: 456, total: 456 });
      const left = await client.statsTube('bulk');
      assert.deepEqual(
        [left?.['current-jobs-ready'], left?.['current-jobs-delayed'], left?.['current-jobs-buried']],
        [0, 0, 0],
      );
    } finally {
      viewer.close();
    }
  });

  test('dashboard: repeated refusals close the socket; cross-site origins are refused', async () => {
    const viewer = await Viewer.open(d.base);
    for (let i = 0; i < 5; i++) await viewer.request({ op: 'kick', tube: 'x', bound: 1, token: 'nope' });
    await viewer.waitFor(() => viewer.closeCode !== null, 'close');
    assert.equal(viewer.closeCode, 1008);
    await assert.rejects(Viewer.open(d.base, { Origin: 'http://evil.example' }), /upgrade refused: 403/);
    const same = await Viewer.open(d.base, { Origin: d.base });
    same.close();
  });

  test('dashboard: malformed messages get BAD_REQUEST, the socket stays open', async () => {
    const viewer = await Viewer.open(d.base);
    try {
      const replies: unknown[] = [];
      viewer.ws.on('message', (m) => {
        const msg = JSON.parse(m.toString()) as { type: string };
        if (msg.type === 'reply') replies.push(msg);
      });
      viewer.ws.send('not json');
      viewer.ws.send('[1,2]');
      const r = await viewer.request({ op: 'explode' });
      assert.deepEqual([r.ok, r.code], [false, 'BAD_REQUEST']);
      assert.equal(replies.length, 3);
      assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
    } finally {
      viewer.close();
    }
  });
});

describe('dashboard: without a token', () => {
  test('dashboard: admin actions and peeks are disabled; counts and rates still flow', async () => {
    const d = await startDashboardCluster();
    const viewer = await Viewer.open(d.base);
    try {
      await viewer.waitFor(() => viewer.hello, 'hello');
      assert.deepEqual([viewer.hello?.admin, viewer.hello?.peek], [false, false]);
      const r = await viewer.request({ op: 'clear', tube: 'default', token: '' });
      assert.deepEqual([r.ok, r.code], [false, 'DISABLED']);
      const p = await viewer.request({ op: 'peek', tube: 'default', state: 'ready' });
      assert.deepEqual([p.ok, p.code, p.result], [false, 'DISABLED', undefined]);
      const snapshot = await viewer.waitFor(() => viewer.snapshot, 'first snapshot');
      assert.equal(snapshot.nodes.length, 3, 'nodes and tubes with their counts need no token');
    } finally {
      viewer.close();
      await d.stop();
    }
  });
});

describe('dashboard: with a read token', () => {
  test('dashboard: peeks need the read token (or the admin token); admin actions refuse it', async () => {
    const READ = 'read-token-51c2';
    const ADMIN = 'admin-token-e9a0';
    const d = await startDashboardCluster({ readToken: READ, adminToken: ADMIN });
    const client = await Client.connect({ host: '127.0.0.1', port: d.cluster.proxy.port });
    const viewer = await Viewer.open(d.base);
    try {
      await client.use('secrets');
      const id = await client.put('card 4111-1111');
      await viewer.waitFor(() => viewer.hello, 'hello');
      assert.equal(viewer.hello?.peek, true);
      for (const token of [undefined, '', 'wrong', `${READ}x`]) {
        const r = await viewer.request({ op: 'peek', tube: 'secrets', state: 'ready', token });
        assert.deepEqual([r.ok, r.code, r.result], [false, 'FORBIDDEN', undefined], `token ${token}`);
      }
      for (const token of [READ, ADMIN]) {
        const r = await viewer.request({ op: 'peek', tube: 'secrets', state: 'ready', token });
        assert.equal(r.ok, true, r.error);
        assert.equal((r.result?.job as { id: number } | undefined)?.id, id);
      }
      const del = await viewer.request({ op: 'delete', jobId: id, token: READ });
      assert.deepEqual([del.ok, del.code], [false, 'FORBIDDEN'], 'the read token is not an admin token');
      assert.ok(await client.peek(id), 'still there');
    } finally {
      viewer.close();
      await client.close();
      await d.stop();
    }
  });
});

describe('dashboard: slow viewers', () => {
  test('dashboard: a viewer past the hard buffer limit is terminated, not buffered for', async () => {
    const logged: string[] = [];
    const d = await startDashboardCluster({ log: (l) => logged.push(l), limits: { hardBufferBytes: 16 } });
    try {
      const viewer = await Viewer.open(d.base);
      await viewer.waitFor(() => viewer.closeCode !== null, 'terminated');
      assert.equal(viewer.closeCode, 1006, 'terminated without a close frame');
      assert.match(logged.join('\n'), /dropping viewer .*: more than 16 bytes unsent/);
      assert.equal(d.dashboard.viewerCount, 0);
    } finally {
      await d.stop();
    }
  });
});

describe('dashboard: node health', () => {
  test('dashboard: a node that stops shows as down and unreachable; the others keep updating', async () => {
    const d = await startDashboardCluster();
    const viewer = await Viewer.open(d.base);
    const stopped = d.cluster.nodes[2];
    assert.ok(stopped);
    try {
      await viewer.waitFor(() => viewer.snapshot?.nodes.length === 3, 'three nodes');
      await stopped.stop();
      const row = await viewer.waitFor(() => {
        const n = viewer.snapshot?.nodes.find((x) => x.index === 2);
        return n && !n.up && !n.reachable ? n : undefined;
      }, 'node 2 down');
      assert.match(row.error, /ECONNREFUSED|CLOSED|ECONNRESET|no answer/);
      const alive = viewer.snapshot?.nodes.filter((n) => n.reachable).map((n) => n.index);
      assert.deepEqual(alive, [0, 1]);
    } finally {
      viewer.close();
      stopped.stop = async () => {}; // already stopped
      await d.stop();
    }
  });
});

describe('dashboard: stalkd proxy command line', () => {
  async function startProxyCli(extra: string[], env: Record<string, string> = {}) {
    const nodes = await Promise.all([0, 1].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
    const metricsPort = await freePort();
    const args = [
      'proxy',
      '-l',
      '127.0.0.1',
      '-p',
      String(await freePort()),
      '--metrics-port',
      String(metricsPort),
    ];
    args.push('--nodes', nodes.map((n) => `127.0.0.1:${n.port}`).join(','), ...extra);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const proxy = await startCli(args, metricsPort);
      return {
        base: `http://127.0.0.1:${metricsPort}`,
        stop: async () => {
          const result = await proxy.stop();
          await Promise.all(nodes.map((n) => n.close()));
          return result;
        },
      };
    } finally {
      for (const key of Object.keys(env)) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  }

  test('dashboard: on by default on --metrics-port, token from STALKD_ADMIN_TOKEN, never logged', async () => {
    const secret = 'env-token-0d9c';
    const p = await startProxyCli(['-V'], { STALKD_ADMIN_TOKEN: secret });
    const viewer = await Viewer.open(p.base);
    try {
      assert.equal((await get(p.base, '/dashboard/')).status, 200);
      await viewer.waitFor(() => viewer.snapshot?.nodes.length === 2, 'two nodes');
      assert.equal(viewer.hello?.admin, true);
      assert.deepEqual(
        (await viewer.request({ op: 'kick', tube: 'default', bound: 1, token: 'no' })).code,
        'FORBIDDEN',
      );
      assert.equal((await viewer.request({ op: 'kick', tube: 'default', bound: 1, token: secret })).ok, true);
    } finally {
      viewer.close();
      const { code, stderr } = await p.stop();
      assert.equal(code, 0);
      assert.match(stderr, /^dashboard http:\/\/127\.0\.0\.1:\d+\/dashboard\/ \(admin on\)$/m);
      assert.match(
        stderr,
        /dashboard: .* kick \{"tube":"default","bound":1\}: ok/,
        'admin actions are logged',
      );
      assert.doesNotMatch(stderr, new RegExp(secret), 'the token never reaches the log');
    }
  });

  test('dashboard: --no-dashboard leaves only the metrics endpoints', async () => {
    const p = await startProxyCli(['--no-dashboard']);
    try {
      assert.equal((await get(p.base, '/dashboard/')).status, 404);
      assert.equal((await get(p.base, '/metrics')).status, 200);
      await assert.rejects(Viewer.open(p.base), /upgrade refused: 404|Unexpected server response: 404/);
    } finally {
      await p.stop();
    }
  });
});
