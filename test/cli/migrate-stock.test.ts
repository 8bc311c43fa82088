/**
 * `stalkd migrate` between stock beanstalkd nodes (docs/migration.md, "With stock beanstalkd
 * nodes"): no x-move extensions, so the plain protocol, best effort — every job of a pinned tube
 * reaches its new node in its state, buried ones still buried in their order and never ready on
 * the way, priorities, TTR and delays (rounded up to the next second) kept, the source left with
 * none of them and its tube no longer paused. Debian's beanstalkd (installed by .ci/run).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from '../../src/client/client';
import { runCli } from '../support/cli-process';
import { BEANSTALKD_PATH, type ReferenceServer, startReference } from '../support/reference';

const TUBE = 'stock-move';

test('migrate: stock beanstalkd nodes — a pinned tube moves with the plain protocol, states, order and priorities kept', async () => {
  assert.ok(BEANSTALKD_PATH, 'beanstalkd is installed (.ci/run)');
  const servers: ReferenceServer[] = await Promise.all([startReference(), startReference()]);
  const [source, dest] = await Promise.all(
    servers.map((s) => Client.connect({ host: '127.0.0.1', port: s.port, timeoutMs: 5000 })),
  );
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-migrate-stock-'));
  const file = join(dir, 'topology.json');
  try {
    const src = source as Client;
    const dst = dest as Client;
    await src.use(TUBE);
    await src.watch(TUBE);
    for (let i = 0; i < 5; i++) {
      const id = await src.put(`b-${i}`, { pri: 10 + i, ttrSecs: 30 });
      assert.ok(typeof (await src.reserveJob(id)) === 'object');
      assert.equal(await src.bury(id, 10 + i), 'BURIED');
    }
    for (let i = 0; i < 5; i++) await src.put(`d-${i}`, { pri: 20, delaySecs: 600 + i, ttrSecs: 40 });
    for (let i = 0; i < 5; i++) await src.put(`r-${i}`, { pri: 30 + i, ttrSecs: 50 });
    writeFileSync(
      file,
      JSON.stringify({
        nodes: servers.map((s, index) => ({ name: `node-${index}`, index, host: '127.0.0.1', port: s.port })),
        pins: { [TUBE]: 'node-1' },
      }),
    );
    const run = await runCli(['migrate', '--topology', file, '--json', '--wait', '0']);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal((run.stdout.match(/"event":"moved"/g) ?? []).length, 15, run.stdout);
    const left = await src.statsTube(TUBE);
    assert.equal(
      (left?.['current-jobs-ready'] ?? 0) +
        (left?.['current-jobs-delayed'] ?? 0) +
        (left?.['current-jobs-buried'] ?? 0),
      0,
    );
    assert.equal(left?.pause ?? 0, 0, 'the source tube is not left paused');
    const there = await dst.statsTube(TUBE);
    assert.equal(there?.['current-jobs-buried'], 5);
    assert.equal(there?.['current-jobs-delayed'], 5);
    assert.equal(there?.['current-jobs-ready'], 5);
    await dst.use(TUBE);
    await dst.watch(TUBE);
    for (let i = 0; i < 5; i++) {
      const job = await dst.peekBuried();
      assert.equal(job?.body.toString(), `b-${i}`, 'buried order kept');
      const stats = await dst.statsJob((job as { id: number }).id);
      assert.equal(stats?.pri, 10 + i);
      assert.equal(stats?.ttr, 30);
      await dst.delete((job as { id: number }).id);
    }
    for (let i = 0; i < 5; i++) {
      const job = await dst.peekDelayed();
      assert.equal(job?.body.toString(), `d-${i}`);
      const stats = await dst.statsJob((job as { id: number }).id);
      assert.ok(stats && stats['time-left'] <= 601 + i && stats['time-left'] >= 590 + i, `d-${i}`);
      assert.equal(stats?.ttr, 40);
      await dst.delete((job as { id: number }).id);
    }
    for (let i = 0; i < 5; i++) {
      const job = await dst.reserveWithTimeout(0);
      assert.ok(typeof job === 'object');
      assert.equal(job.body.toString(), `r-${i}`, 'priority order');
      assert.equal((await dst.statsJob(job.id))?.pri, 30 + i);
      await dst.delete(job.id);
    }
  } finally {
    await Promise.all([source, dest].map((c) => c?.close()));
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});
