/**
 * Migration from beanstalkd interrupted by a crash (issue 13, item 4): a binlog directory written by
 * the real beanstalkd (several binlog.N files: ready, delayed, buried, released, reserved and
 * deleted jobs) is imported by stalkd, which dies at one of the file system calls of the import
 * that can change the disk (KillingFileOps: the call does not happen, a write happens in part, no
 * clean-up runs) — at every one of them in turn, then again at a random one while the next start
 * finishes the job — and finally by real SIGKILLs of `stalkd node` at random moments of its start-up
 * (the import, the replay and the new segment; the rest of a start is the crash harness's ground). Every interrupted migration must end, at the next clean start, exactly as an
 * uninterrupted one: the same jobs in the same order (buried FIFO), every record field and body,
 * a next id above every id beanstalkd handed out; the beanstalkd files all moved aside once, none
 * left in the directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { IMPORTED_DIR, openBinlog } from '../../src/binlog';
import { importOnStart } from '../../src/binlog/open';
import { connect } from '../../src/client';
import { KillingFileOps, tempDir } from '../support/binlog-fixtures';
import { CLI_PATH } from '../support/cli-process';
import { seededRand } from '../support/fuzz';
import { startNode } from '../support/node-process';
import { BEANSTALKD_PATH, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

/** The highest id the beanstalkd of the fixture handed out (job 300, deleted). */
const HIGHEST_ID = 300;

/** What a start shows of a directory: jobs in restore order, the files. */
interface Migrated {
  jobs: string[];
  files: string[];
  aside: string[];
}

/**
 * A clean start of dir (then closed): its jobs as comparable strings and its files. The next id it
 * would hand out must lie above every id beanstalkd handed out (it may be higher after a restart).
 */
async function migrated(dir: string): Promise<Migrated> {
  const opened = await openBinlog(dir, { fsyncEveryMs: 0, log: () => {} });
  await opened.binlog.close();
  assert.ok(opened.nextId > HIGHEST_ID, `next id ${opened.nextId}`);
  const asideDir = path.join(dir, IMPORTED_DIR);
  return {
    jobs: opened.jobs.map((j) => `${JSON.stringify(j.record)} ${j.body.toString('hex')}`),
    files: fs.readdirSync(dir).filter((n) => /^binlog\.\d+$/.test(n) || n.endsWith('.tmp')),
    aside: fs.existsSync(asideDir) ? fs.readdirSync(asideDir).sort() : [],
  };
}

function copyDir(from: string): string {
  const dir = tempDir('stalkd-import-crash-');
  fs.cpSync(from, dir, { recursive: true });
  return dir;
}

/** The import step of a start through ops, which must die in it. */
function killedImport(dir: string, ops: KillingFileOps): void {
  assert.throws(() => importOnStart(ops, dir), /EKILLED/);
  assert.ok(ops.dead);
}

/** How many disk changes the import step of a start makes on (a copy of) dir. */
function importChanges(dir: string): number {
  const counting = new KillingFileOps();
  importOnStart(counting, copyDir(dir));
  return counting.changes;
}

whenInstalled(Boolean(BEANSTALKD_PATH), 'beanstalkd', () =>
  describe('binlog import crash', () => {
    let written: string;
    let reference: Migrated;
    let changes = 0;

    before(async () => {
      written = tempDir('stalkd-beanstalkd-');
      // Small files (-s), so the log spans several binlog.N and the move aside has several steps.
      const ref = await startReference(['-b', written, '-f', '0', '-s', '16384']);
      const c = await connect({ host: '127.0.0.1', port: ref.port });
      const rand = seededRand(13);
      for (let i = 0; i < 300; i++) {
        await c.use(`tube-${i % 3}`);
        const body = Buffer.alloc(20 + rand(300), i % 256);
        await c.put(body, { pri: rand(2000), delaySecs: i % 10 === 0 ? 3600 : 0, ttrSecs: 30 + (i % 7) });
      }
      for (const t of ['tube-0', 'tube-1', 'tube-2']) await c.watch(t);
      for (let i = 0; i < 120; i++) {
        const job = await c.reserveWithTimeout(0);
        assert.ok(typeof job === 'object', 'a ready job');
        if (i % 4 === 0) await c.bury(job.id, i);
        else if (i % 4 === 1) await c.release(job.id, i, i % 8 === 1 ? 600 : 0);
        else await c.delete(job.id);
      }
      await c.delete(HIGHEST_ID); // the next id must still come after it
      assert.ok(typeof (await c.reserveWithTimeout(0)) === 'object', 'one job held reserved at the kill');
      await ref.stop(); // SIGKILL
      await c.close();
      const files = fs.readdirSync(written).filter((n) => n.startsWith('binlog.'));
      assert.ok(files.length >= 3, `beanstalkd wrote ${files.join(', ')}`);

      changes = importChanges(written);
      reference = await migrated(copyDir(written));
      assert.equal(reference.files.length, 0);
      assert.deepEqual(reference.aside, files.sort());
    });

    it('import crash: a kill at any disk change of the import, then a clean start, gives the uninterrupted result', async () => {
      assert.ok(changes > 10, `the import made ${changes} changes`);
      for (let at = 1; at <= changes; at++) {
        const dir = copyDir(written);
        killedImport(dir, new KillingFileOps(at, 500));
        assert.deepEqual(await migrated(dir), reference, `killed at change ${at} of ${changes}`);
      }
    });

    it('import crash: killed again while the next start finishes the import, still the same result', async () => {
      const rand = seededRand(2013);
      for (let at = 1; at <= changes; at++) {
        const dir = copyDir(written);
        killedImport(dir, new KillingFileOps(at, rand(1001)));
        const left = importChanges(dir);
        const again = left > 0 ? 1 + rand(left) : 0;
        if (again > 0) killedImport(dir, new KillingFileOps(again, rand(1001)));
        assert.deepEqual(
          await migrated(dir),
          reference,
          `killed at change ${at}, then at ${again} of ${left}`,
        );
        assert.deepEqual(await migrated(dir), reference, `a further start changes nothing (${at}, ${again})`);
      }
    });

    it('import crash: stalkd node SIGKILLed at random moments of its start-up, then started cleanly', async () => {
      // How long a start takes here (spawn to listening, the migration included) sets the window.
      const calibrate = copyDir(written);
      const t0 = Date.now();
      await (await startNode(calibrate, ['-f', '0'])).stop();
      const startMs = Date.now() - t0;
      const rand = seededRand(1302);
      const dir = copyDir(written);
      for (let kill = 0; kill < 6; kill++) {
        const child = spawn(process.execPath, [CLI_PATH, 'node', '-l', '127.0.0.1', '-p', '0', '-b', dir], {
          stdio: 'ignore',
        });
        const exited = once(child, 'exit');
        const timer = setTimeout(() => child.kill('SIGKILL'), rand(startMs));
        const [code, signal] = (await exited) as [number | null, string | null];
        clearTimeout(timer);
        assert.equal(signal, 'SIGKILL', `start ${kill} exited by itself (${code})`);
      }
      await (await startNode(dir, ['-f', '0'])).stop();
      assert.deepEqual(await migrated(dir), reference);
    });
  }),
);
