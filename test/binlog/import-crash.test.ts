/**
 * Migration from beanstalkd interrupted by a crash (issue 13, item 4): a binlog directory written by
 * the real beanstalkd (several binlog.N files: ready, delayed, buried, released, reserved and
 * deleted jobs) is opened by a child process that SIGKILLs itself at one of the file system calls
 * that can change the disk (support/binlog-kill-child.ts: the call does not happen, a write happens
 * in part) — at every one of them in turn, then at two random ones in a row — and finally by real
 * SIGKILLs of `stalkd node` at random moments of its start-up. Every interrupted migration must end, at the next clean start, exactly as an
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
import { connect } from '../../src/client';
import { tempDir } from '../support/binlog-fixtures';
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

const CHILD = path.join(__dirname, '..', 'support', 'binlog-kill-child.js');

/** Opens and closes dir in the child, which SIGKILLs itself at change `killAt`; without: the count. */
async function childRun(dir: string, killAt?: number, cutPermille = 500): Promise<number> {
  const args = killAt === undefined ? [CHILD, dir] : [CHILD, dir, String(killAt), String(cutPermille)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (killAt !== undefined) {
    assert.equal(signal, 'SIGKILL', `change ${killAt} was not reached (${code}): ${out}`);
    return killAt;
  }
  const m = /^changes (\d+)$/m.exec(out);
  assert.ok(code === 0 && m, `the child failed (${code ?? signal}): ${out}`);
  return Number(m[1]);
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

      changes = await childRun(copyDir(written));
      reference = await migrated(copyDir(written));
      assert.equal(reference.files.length, 0);
      assert.deepEqual(reference.aside, files.sort());
    });

    it('import crash: a kill at any disk change of the migration, then a clean start, gives the uninterrupted result', async () => {
      assert.ok(changes > 10, `opening and closing made ${changes} changes`);
      for (let at = 1; at <= changes; at++) {
        const dir = copyDir(written);
        await childRun(dir, at);
        assert.deepEqual(await migrated(dir), reference, `killed at change ${at} of ${changes}`);
      }
    });

    it('import crash: killed again while finishing an interrupted migration, still the same result', async () => {
      const rand = seededRand(2013);
      for (let run = 0; run < 6; run++) {
        const dir = copyDir(written);
        const first = await childRun(dir, 1 + rand(changes), rand(1001));
        const second = await childRun(dir, 1 + rand(await childRun(copyDir(dir))), rand(1001));
        assert.deepEqual(await migrated(dir), reference, `killed at change ${first}, then at ${second}`);
        assert.deepEqual(
          await migrated(dir),
          reference,
          `a further start changes nothing (${first}, ${second})`,
        );
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
