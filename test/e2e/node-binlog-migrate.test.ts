/**
 * Migration from beanstalkd through the CLI: Debian's beanstalkd runs with `-b DIR -f 0` (small
 * files, so the log spans several binlog.N), takes puts in several tubes with priorities and
 * delays, a bury, a kick, a release with delay, deletes (the highest id among them) and holds a
 * reservation; it is SIGKILLed and `stalkd node -b DIR` starts on the directory. Every job must
 * read back through the protocol as beanstalkd showed it just before the kill, except what a
 * restart changes by definition (the reserved job is ready again), and as beanstalkd's own restart
 * on a copy of the directory shows it, except beanstalkd's double-counted bury. The binlog-level
 * version is binlog-import.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { IMPORTED_DIR } from '../../src/binlog';
import { type Client, connect, type JobStats } from '../../src/client';
import { tempDir } from '../support/binlog-fixtures';
import { type NodeProcess, runCliToExit, startNode } from '../support/node-process';
import { BEANSTALKD_PATH, type ReferenceServer, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

const BINARY = Buffer.from([0, 13, 10, 255, 1, 13, 10]);

const clients: Client[] = [];
const processes: (NodeProcess | ReferenceServer)[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const p of processes.splice(0)) await ('kill' in p ? p.kill() : p.stop());
});

async function open(port: number): Promise<Client> {
  const c = await connect({ host: '127.0.0.1', port });
  clients.push(c);
  return c;
}

/** stats-job of each id, with the fields a restart may move (age, time-left) and `file` split off. */
async function jobTable(c: Client, ids: number[]) {
  const fixed = new Map<number, Omit<JobStats, 'age' | 'time-left' | 'file'>>();
  const moving = new Map<number, { age: number; timeLeft: number }>();
  for (const id of ids) {
    const s = await c.statsJob(id);
    assert.ok(s, `job ${id} exists`);
    const { age, 'time-left': timeLeft, file: _file, ...rest } = s;
    fixed.set(id, rest);
    moving.set(id, { age, timeLeft });
  }
  return { fixed, moving };
}

async function bodies(c: Client, ids: number[]): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  for (const id of ids) {
    const job = await c.peek(id);
    assert.ok(job, `job ${id} has a body`);
    out.set(id, job.body);
  }
  return out;
}

whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () =>
  describe('node binlog migration from beanstalkd', () => {
    it('migrate: stalkd node -b takes over a killed beanstalkd -f 0 directory once, every job as beanstalkd had it', async () => {
      const dir = tempDir('stalkd-migrate-');
      const ref = await startReference(['-b', dir, '-f', '0', '-s', '4096']);
      processes.push(ref);
      const b = await open(ref.port);
      await b.use('tube-a');
      const hello = await b.put('hello', { pri: 5, ttrSecs: 60 });
      const delayed = await b.put('', { pri: 7, delaySecs: 3600, ttrSecs: 30 });
      await b.use('tube-b');
      const binary = await b.put(BINARY, { pri: 100, ttrSecs: 120 });
      const buried = await b.put('abc', { pri: 1, ttrSecs: 10 });
      const kicked = await b.put('kick', { pri: 2 });
      const released = await b.put('rel', { pri: 60, ttrSecs: 10 });
      const reserved = await b.put('res', { pri: 70 });
      assert.notEqual(await b.reserveJob(buried), 'NOT_FOUND');
      assert.equal(await b.bury(buried, 9), 'BURIED');
      assert.notEqual(await b.reserveJob(kicked), 'NOT_FOUND');
      assert.equal(await b.bury(kicked, 3), 'BURIED');
      assert.equal(await b.kickJob(kicked), 'KICKED');
      assert.notEqual(await b.reserveJob(released), 'NOT_FOUND');
      assert.equal(await b.release(released, 61, 30), 'RELEASED');
      assert.notEqual(await b.reserveJob(reserved), 'NOT_FOUND');
      // Filler that spreads the log over several files; every sixth job stays.
      await b.use('tube-c');
      const live = [hello, delayed, binary, buried, kicked, released, reserved];
      for (let i = 0; i < 30; i++) {
        const id = await b.put(`${i}:${'f'.repeat(300)}`, { pri: 1000 + i });
        if (i % 6 === 0) live.push(id);
        else assert.equal(await b.delete(id), 'DELETED');
      }
      const highest = await b.put('deleted, the highest id');
      assert.equal(await b.delete(highest), 'DELETED');

      const before = await jobTable(b, live);
      const beforeBodies = await bodies(b, live);
      const beforeTubes = (await b.listTubes()).sort();
      const measuredAtMs = Date.now();
      await ref.stop(); // SIGKILL: the binlog is all that is left
      const originals = fs
        .readdirSync(dir)
        .filter((n) => /^binlog\.\d+$/.test(n))
        .sort();
      assert.ok(originals.length >= 2, `beanstalkd wrote ${originals.join(' ')}`);
      // beanstalkd's own restart on a copy of the directory, for comparison.
      const copy = tempDir('stalkd-migrate-copy-');
      for (const name of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, name), path.join(copy, name));
      const replayedRef = await startReference(['-b', copy, '-f', '0', '-s', '4096']);
      processes.push(replayedRef);
      const replayed = await jobTable(await open(replayedRef.port), live);

      const first = await startNode(dir);
      processes.push(first);
      assert.match(
        first.stderr(),
        new RegExp(`imported ${live.length} jobs \\(ids up to ${highest}\\) from beanstalkd binlog\\.\\d+`),
      );
      assert.doesNotMatch(first.stderr(), /WARNING/);
      assert.deepEqual(
        fs.readdirSync(path.join(dir, IMPORTED_DIR)).sort(),
        originals,
        'the originals are moved aside',
      );
      assert.deepEqual(
        fs.readdirSync(dir).filter((n) => n.startsWith('binlog.')),
        [],
      );

      const s = await open(first.port);
      const after = await jobTable(s, live);
      const elapsedSecs = Math.ceil((Date.now() - measuredAtMs) / 1000);
      const expected = new Map(before.fixed);
      // What a restart changes by definition: the reservation died with the process. Reserves are not
      // logged, so its count is the one in beanstalkd's last record of it (here a compaction copy
      // written after the reserve): the reference's own restart shows which.
      const reservedAfter = replayed.fixed.get(reserved) as JobStats;
      expected.set(reserved, {
        ...(before.fixed.get(reserved) as JobStats),
        state: 'ready',
        reserves: reservedAfter.reserves,
      });
      assert.deepEqual(after.fixed, expected);
      // beanstalkd's own restart agrees, except that its replay counts the bury a second time.
      const reference = new Map(replayed.fixed);
      assert.equal(reference.get(buried)?.buries, 2, 'beanstalkd 1.12 double-counts buries on replay');
      reference.set(buried, { ...(reference.get(buried) as JobStats), buries: 1 });
      assert.deepEqual(after.fixed, reference);
      assert.equal(after.fixed.get(delayed)?.state, 'delayed');
      assert.equal(after.fixed.get(released)?.state, 'delayed');
      assert.equal(after.fixed.get(buried)?.state, 'buried');
      for (const id of live) {
        const was = before.moving.get(id) as { age: number; timeLeft: number };
        const now = after.moving.get(id) as { age: number; timeLeft: number };
        assert.ok(now.age >= was.age, `job ${id}: age continues (${was.age} → ${now.age})`);
        if (after.fixed.get(id)?.state !== 'delayed') continue;
        assert.ok(
          now.timeLeft <= was.timeLeft && now.timeLeft >= was.timeLeft - elapsedSecs - 1,
          `job ${id}: the delay continues (time-left ${was.timeLeft} → ${now.timeLeft})`,
        );
      }
      assert.deepEqual(await bodies(s, live), beforeBodies);
      assert.deepEqual((await s.listTubes()).sort(), beforeTubes);
      assert.equal(await s.peek(highest), null);
      const probe = await s.put('first stalkd job');
      assert.equal(probe, highest + 1, 'ids continue after the highest id beanstalkd logged');

      await s.close();
      const stopped = await first.stop();
      assert.equal(stopped.code, 0, stopped.stderr);

      const second = await startNode(dir);
      processes.push(second);
      assert.doesNotMatch(second.stderr(), /import/, 'no second import');
      assert.deepEqual(fs.readdirSync(path.join(dir, IMPORTED_DIR)).sort(), originals);
      const t = await open(second.port);
      assert.deepEqual((await jobTable(t, live)).fixed, after.fixed);
      assert.deepEqual(await bodies(t, live), beforeBodies);
      assert.equal((await t.peek(probe))?.body.toString(), 'first stalkd job');
      const counts = await t.stats();
      assert.deepEqual(
        [counts['current-jobs-ready'], counts['current-jobs-delayed'], counts['current-jobs-buried']],
        [live.length - 3 + 1, 2, 1],
      );
      assert.equal(await t.put('next'), probe + 1);
    });

    it('migrate: stalkd node refuses a directory a running beanstalkd holds, and takes nothing from it', async () => {
      const dir = tempDir('stalkd-migrate-');
      const ref = await startReference(['-b', dir, '-f', '0']);
      processes.push(ref);
      const b = await open(ref.port);
      const id = await b.put("still beanstalkd's");
      const refused = await runCliToExit(['node', '-l', '127.0.0.1', '-p', '0', '-b', dir]);
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        new RegExp(`is in use by beanstalkd \\(pid ${ref.pid} holds .*stop it first`),
      );
      assert.deepEqual(fs.readdirSync(dir).sort(), ['binlog.1', 'lock'], 'nothing imported or moved');
      assert.equal((await b.peek(id))?.body.toString(), "still beanstalkd's");
    });
  }),
);
