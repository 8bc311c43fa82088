/**
 * Restarts of `stalkd node -b DIR` as a real process on real files (the binlog-level version of
 * these checks is binlog-restart.test.ts): every job state and counter after a SIGKILL, a clean
 * SIGTERM, the one-process-per-directory lock, and rotation with `-s 4096`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Client, JobStats } from '../../src/client';
import { segmentFiles, tempDir } from '../support/binlog-fixtures';
import { type NodeProcess, runCliToExit, startNode } from '../support/node-process';

const BINARY = Buffer.from([0, 1, 2, 13, 10, 255]);

const running: NodeProcess[] = [];
const clients: Client[] = [];

async function node(dir: string, extra: string[] = []): Promise<NodeProcess> {
  const n = await startNode(dir, extra);
  running.push(n);
  return n;
}

async function client(n: NodeProcess): Promise<Client> {
  const c = await n.client();
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const n of running.splice(0)) await n.kill();
});

async function statsJob(c: Client, id: number): Promise<JobStats> {
  const s = await c.statsJob(id);
  assert.ok(s, `job ${id} exists`);
  return s;
}

describe('node binlog restart', () => {
  it('restart: after a SIGKILL every state, field and counter comes back (-f 0)', async () => {
    const dir = tempDir('stalkd-node-');
    const first = await node(dir, ['-f', '0', '-s', '1048576']);
    const p = await client(first);
    const w = await client(first);
    await w.watch('gamma');

    await p.use('alpha');
    const ready = await p.put(BINARY, { pri: 5, ttrSecs: 30 });
    await p.use('beta');
    const delayedSentAtMs = Date.now();
    const delayed = await p.put('delayed', { pri: 10, delaySecs: 3600 });
    const delayedPutAtMs = Date.now();
    await p.use('gamma');
    const buriedA = await p.put('buried a', { pri: 20 });
    const buriedB = await p.put('buried b', { pri: 21 });
    const kicked = await p.put('kicked', { pri: 22 });
    const released = await p.put('released', { pri: 100 });
    const held = await p.put('held', { pri: 200 });
    // B is buried before A: FIFO order B, A whatever the ids say.
    await w.reserveJob(buriedB);
    assert.equal(await w.bury(buriedB, 7), 'BURIED');
    await w.reserveJob(buriedA);
    assert.equal(await w.bury(buriedA, 8), 'BURIED');
    await w.reserveJob(kicked);
    assert.equal(await w.bury(kicked, 22), 'BURIED');
    assert.equal(await p.kickJob(kicked), 'KICKED');
    await w.reserveJob(released);
    assert.equal(await w.release(released, 7, 0), 'RELEASED', 'a release without delay, new priority');

    // A TTR expiry (not logged) then a release (logged, carrying reserves 2 and timeouts 1).
    await p.use('ttr');
    const expired = await p.put('expired', { pri: 30, ttrSecs: 1 });
    await w.watch('ttr');
    await w.reserveJob(expired);
    const w2 = await client(first);
    await w2.watch('ttr');
    await w2.ignore('default');
    const again = await w2.reserveWithTimeout(10); // the job comes back when w's TTR runs out
    assert.ok(typeof again === 'object' && again.id === expired);
    assert.equal(await w2.release(expired, 9, 0), 'RELEASED');

    await w.reserveJob(held); // reserved at the kill: reserves are not logged
    await p.use('emptied');
    const gone = await p.put('the highest id, deleted');
    assert.equal(await p.delete(gone), 'DELETED');

    const before = await p.stats();
    assert.equal(before['binlog-oldest-index'], 1);
    assert.equal(before['binlog-current-index'], 1);
    // 9 puts + 6 state records (3 buries, 1 kick, 2 releases) + 1 delete; reserves are not logged.
    assert.equal(before['binlog-records-written'], 16);
    assert.equal(before['binlog-records-migrated'], 0);
    assert.equal(before['binlog-max-size'], 1048576);
    assert.equal((await statsJob(p, ready)).file, 1);
    assert.equal((await statsJob(p, held)).state, 'reserved');
    assert.equal((await statsJob(p, held)).reserves, 1);
    const ageBefore = (await statsJob(p, ready)).age;
    assert.ok(ageBefore >= 1, 'more than a second passed (the TTR) since the first put');

    const killed = await first.kill();
    assert.equal(killed.signal, 'SIGKILL');
    for (const c of clients.splice(0)) await c.close();

    const second = await node(dir, ['-f', '0', '-s', '1048576']);
    assert.match(second.stderr(), / INFO {2}node start .* jobs_restored=8 replay_ms=\d+\n/);
    assert.doesNotMatch(second.stderr(), / (WARN|ERROR) /);
    const c = await client(second);

    assert.deepEqual((await c.listTubes()).sort(), ['alpha', 'beta', 'default', 'gamma', 'ttr']);
    const r = await statsJob(c, ready);
    assert.deepEqual(
      { tube: r.tube, state: r.state, pri: r.pri, ttr: r.ttr, reserves: r.reserves, file: r.file },
      { tube: 'alpha', state: 'ready', pri: 5, ttr: 30, reserves: 0, file: 1 },
    );
    assert.ok(r.age >= ageBefore, `age continues (${r.age} >= ${ageBefore})`);
    assert.deepEqual((await c.peek(ready))?.body, BINARY);

    const statsSentAtMs = Date.now();
    const d = await statsJob(c, delayed);
    const statsAtMs = Date.now();
    assert.equal(d.state, 'delayed');
    assert.equal(d.delay, 3600);
    // The deadline is absolute: time-left = floor((put time + 3600 s - now) / 1000), with put time
    // and now bracketed by when we sent and got the replies. More than a second has passed since
    // the put, so a deadline restarted at replay would show 3599 and fail the upper bound.
    const lowest = Math.floor((delayedSentAtMs + 3_600_000 - statsAtMs) / 1000);
    const highest = Math.floor((delayedPutAtMs + 3_600_000 - statsSentAtMs) / 1000);
    assert.ok(highest <= 3598);
    assert.ok(d['time-left'] >= lowest && d['time-left'] <= highest, `time-left ${d['time-left']}`);

    await c.use('gamma');
    assert.equal((await c.peekBuried())?.id, buriedB, 'buried FIFO order kept');
    const b = await statsJob(c, buriedB);
    assert.deepEqual(
      [b.state, b.pri, b.reserves, b.buries, b.kicks],
      ['buried', 7, 1, 1, 0],
      'buries not counted again by the replay',
    );
    assert.deepEqual([(await statsJob(c, buriedA)).pri, (await statsJob(c, buriedA)).buries], [8, 1]);
    const k = await statsJob(c, kicked);
    assert.deepEqual([k.state, k.reserves, k.buries, k.kicks], ['ready', 1, 1, 1]);
    const rel = await statsJob(c, released);
    assert.deepEqual([rel.state, rel.pri, rel.reserves, rel.releases], ['ready', 7, 1, 1]);
    const e = await statsJob(c, expired);
    assert.deepEqual(
      [e.state, e.pri, e.reserves, e.timeouts, e.releases],
      ['ready', 9, 2, 1, 1],
      'counters as of the last logged record (the release)',
    );
    const h = await statsJob(c, held);
    // Reserved at the kill → ready; its one reserve was never logged, so reserves is the put's 0.
    assert.deepEqual([h.state, h.reserves, h.pri], ['ready', 0, 200]);
    assert.equal((await c.peek(held))?.body.toString(), 'held');
    assert.equal(await c.peek(gone), null);

    const after = await c.stats();
    assert.deepEqual(
      [
        after['current-jobs-ready'],
        after['current-jobs-urgent'],
        after['current-jobs-delayed'],
        after['current-jobs-buried'],
      ],
      [5, 5, 1, 2],
    );
    const gamma = await c.statsTube('gamma');
    assert.deepEqual(
      [gamma?.['current-jobs-ready'], gamma?.['current-jobs-buried'], gamma?.['current-jobs-urgent']],
      [3, 2, 3],
      'per-tube counts rebuilt',
    );
    assert.equal(after['binlog-oldest-index'], 1);
    assert.equal(after['binlog-current-index'], 2, 'every start opens a new segment');
    assert.equal(after['binlog-records-written'], 0);

    const next = await c.put('after the restart');
    // After a kill the next id is above the last logged id ceiling (docs/binlog.md, "Ids").
    assert.ok(next > gone, `the deleted highest id is not handed out again (next ${next}, deleted ${gone})`);
    assert.equal((await statsJob(c, next)).file, 2);
    assert.equal((await c.stats())['binlog-records-written'], 1);

    assert.equal(await c.kick(1), 1);
    assert.equal((await statsJob(c, buriedB)).state, 'ready', 'kick takes the oldest buried job');
    assert.equal((await statsJob(c, buriedA)).state, 'buried');
  });

  it('restart: SIGTERM is a clean close (exit 0, last segment truncated, nothing to repair), even with -F', async () => {
    const dir = tempDir('stalkd-node-');
    const first = await node(dir, ['-F']);
    const p = await client(first);
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await p.put(`job ${i}`, { pri: i }));
    const w = await client(first);
    await w.reserveJob(ids[3] as number);
    const exit = await first.stop();
    assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
    assert.doesNotMatch(exit.stderr, /error/i);
    const [segment] = segmentFiles(dir);
    assert.ok(segment);
    const bytes = fs.statSync(path.join(dir, segment)).size;
    assert.ok(bytes < 4096, `the 10 MiB segment was truncated to the bytes used (${bytes})`);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
      'no spare file left behind',
    );
    clients.length = 0;

    const second = await node(dir, ['-F']);
    assert.doesNotMatch(second.stderr(), /WARNING/);
    const c = await client(second);
    for (const [i, id] of ids.entries()) {
      assert.equal((await c.peek(id))?.body.toString(), `job ${i}`);
      assert.equal((await statsJob(c, id)).state, 'ready');
    }
  });

  it('restart: SIGTERM under load confirms every put the node took before stopping (-f 0)', async () => {
    const dir = tempDir('stalkd-node-');
    const first = await node(dir, ['-f', '0']);
    const control = await client(first);
    const writers = await Promise.all(Array.from({ length: 8 }, () => client(first)));
    const puts = writers.flatMap((w, i) =>
      Array.from({ length: 100 }, (_, k) =>
        w.put(`job ${i}.${k}`).then(
          (id) => id,
          (err: Error) => err.message,
        ),
      ),
    );
    // One round trip per try until the node has run every put; then stop it.
    for (let tries = 0; (await control.stats())['cmd-put'] < 800; tries++) {
      assert.ok(tries < 10_000, 'the node never received the puts');
    }
    const exit = await first.stop();
    assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
    const answers = await Promise.all(puts);
    assert.deepEqual(
      answers.filter((a) => typeof a !== 'number'),
      [],
      'no put the node took lost its INSERTED',
    );
    clients.length = 0;
    const second = await node(dir, ['-f', '0']);
    const c = await client(second);
    assert.equal((await c.stats())['current-jobs-ready'], 800);
    for (const id of answers as number[]) assert.ok(await c.peek(id), `job ${id}`);
    // A clean stop logs the exact highest id: ids go on right after it, not above the last ceiling.
    assert.equal(await c.put('next'), Math.max(...(answers as number[])) + 1);
  });

  it('restart: a second process on the same DIR exits non-zero with a clear error; a killed one leaves no lock', async () => {
    const dir = tempDir('stalkd-node-');
    const first = await node(dir, ['-f', '0']);
    const p = await client(first);
    const id = await p.put('x');
    const second = await runCliToExit(['node', '-l', '127.0.0.1', '-p', '0', '-b', dir]);
    assert.notEqual(second.code, 0);
    assert.equal(second.signal, null);
    assert.match(
      second.stderr,
      new RegExp(`binlog directory .* is locked by another stalkd process \\(pid ${first.pid} on `),
    );
    assert.equal(await p.delete(id), 'DELETED', 'the first node keeps serving');
    await first.kill();
    clients.length = 0;
    const third = await node(dir, ['-f', '0']);
    const c = await client(third);
    assert.ok((await c.put('y')) > id);
  });

  it('restart: a cluster node keeps its id residue class (--id-stride 3 --id-offset 2), deleted highest id included', async () => {
    const dir = tempDir('stalkd-node-');
    const args = ['-f', '0', '--id-stride', '3', '--id-offset', '2'];
    const first = await node(dir, args);
    const p = await client(first);
    const ids = [await p.put('a'), await p.put('b'), await p.put('c')];
    assert.deepEqual(ids, [2, 5, 8]);
    assert.equal(await p.delete(8), 'DELETED');
    await first.kill();
    clients.length = 0;
    const second = await node(dir, args);
    const c = await client(second);
    const d = await c.put('d');
    assert.ok(d > 8 && d % 3 === 2, `id ${d}: above the deleted 8, in the residue class`);
    assert.equal((await c.peek(5))?.body.toString(), 'b');
  });

  it('restart: -s 4096 rotates segments; live jobs and the id floor survive compaction and restarts', async () => {
    const dir = tempDir('stalkd-node-');
    const args = ['-f', '0', '-s', '4096'];
    const first = await node(dir, args);
    const p = await client(first);
    const kept = new Map<number, string>();
    let highest = 0;
    for (let i = 0; i < 60; i++) {
      await p.use(`t${i % 3}`);
      const body = `${i}:${'z'.repeat(300)}`;
      highest = await p.put(body);
      if (i % 5 === 0) kept.set(highest, body);
    }
    const rotated = await p.stats();
    assert.equal(rotated['binlog-max-size'], 4096);
    assert.ok(rotated['binlog-current-index'] >= 4, `index ${rotated['binlog-current-index']}`);
    assert.ok(segmentFiles(dir).length >= 2);
    for (let id = 1; id <= highest; id++) if (!kept.has(id)) assert.equal(await p.delete(id), 'DELETED');
    await p.use('default');
    // Churn after the deletes: rotation and compaction move the kept jobs forward.
    for (let i = 0; i < 40; i++) assert.equal(await p.delete(await p.put('c'.repeat(300))), 'DELETED');
    const churned = await p.stats();
    highest += 40;
    assert.ok(churned['binlog-oldest-index'] > 1, 'old segments were removed');
    assert.ok(churned['binlog-records-migrated'] > 0, 'live jobs were copied forward');
    await first.kill();
    clients.length = 0;

    for (let round = 0; round < 2; round++) {
      const n = await node(dir, args);
      assert.doesNotMatch(n.stderr(), /WARNING/);
      const c = await client(n);
      for (const [id, body] of kept) {
        assert.equal((await c.peek(id))?.body.toString(), body, `round ${round}: job ${id}`);
        const s = await statsJob(c, id);
        assert.equal(s.tube, `t${Number(body.split(':')[0]) % 3}`);
      }
      assert.equal((await c.stats())['current-jobs-ready'], kept.size);
      const id = await c.put('probe');
      assert.ok(id > highest, `round ${round}: ids continue above the deleted ones (${id} > ${highest})`);
      assert.equal(await c.delete(id), 'DELETED');
      highest = id;
      await n.kill();
      running.length = 0;
      clients.length = 0;
    }
  });
});
