/**
 * Migration from beanstalkd: binlogs written by the real beanstalkd during the test run, SIGKILLed,
 * then opened by stalkd.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { BinlogImportError, IMPORTED_DIR, openBinlog } from '../../src/binlog';
import { readBeanstalkdLog } from '../../src/binlog/import-beanstalkd';
import { JobState } from '../../src/engine/journal';
import { openStore, segmentFiles, tempDir } from '../support/binlog-fixtures';
import { BEANSTALKD_PATH, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

/** One command, one reply line (RESERVED also reads its body). */
class Conn {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
  }
  static connect(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  private async readLine(): Promise<string> {
    for (;;) {
      const at = this.buf.indexOf('\r\n');
      if (at >= 0) {
        const line = this.buf.toString('latin1', 0, at);
        this.buf = this.buf.subarray(at + 2);
        return line;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
  async send(line: string, body?: Buffer): Promise<string> {
    this.socket.write(
      body ? Buffer.concat([Buffer.from(`${line}\r\n`), body, Buffer.from('\r\n')]) : `${line}\r\n`,
    );
    const reply = await this.readLine();
    if (reply.startsWith('RESERVED')) await this.readLine();
    return reply;
  }
  close(): void {
    this.socket.destroy();
  }
}

const skip = !BEANSTALKD_PATH;
const BINARY = Buffer.from([0, 13, 10, 255, 1, 13, 10]);

whenInstalled(!skip, 'beanstalkd', () =>
  describe('binlog import from beanstalkd', () => {
    let written: string; // a directory with beanstalkd's files, never opened by stalkd
    let putAtMs = 0;

    before(async () => {
      written = tempDir('stalkd-beanstalkd-');
      const ref = await startReference(['-b', written, '-f', '0']);
      const c = await Conn.connect(ref.port);
      const expect = async (line: string, reply: string, body?: Buffer) =>
        assert.equal(await c.send(line, body), reply, line);
      putAtMs = Date.now();
      await expect('use tube-a', 'USING tube-a');
      await expect('put 5 0 60 5', 'INSERTED 1', Buffer.from('hello'));
      await expect('put 7 3600 30 0', 'INSERTED 2', Buffer.alloc(0));
      await expect('use tube-b', 'USING tube-b');
      await expect(`put 100 0 120 ${BINARY.length}`, 'INSERTED 3', BINARY);
      await expect('put 1 0 10 3', 'INSERTED 4', Buffer.from('abc'));
      await expect('watch tube-b', 'WATCHING 2');
      await expect('reserve-with-timeout 0', 'RESERVED 4 3');
      await expect('bury 4 9', 'BURIED');
      await expect('put 60 0 10 3', 'INSERTED 5', Buffer.from('rel'));
      await expect('reserve-with-timeout 0', 'RESERVED 5 3');
      await expect('release 5 61 30', 'RELEASED');
      await expect('put 70 0 10 3', 'INSERTED 6', Buffer.from('res'));
      await expect('reserve-with-timeout 0', 'RESERVED 6 3');
      await expect('put 80 0 10 3', 'INSERTED 7', Buffer.from('del'));
      await expect('delete 7', 'DELETED');
      c.close();
      await ref.stop(); // SIGKILL: the binlog is all that is left
    });

    function copyOfWritten(): string {
      const dir = tempDir();
      for (const name of fs.readdirSync(written))
        fs.copyFileSync(path.join(written, name), path.join(dir, name));
      return dir;
    }

    it('import: every job, tube, priority, body, state, delay and counter comes over', async () => {
      const dir = copyOfWritten();
      const { store, binlog, notes, warnings } = await openStore(dir);
      await binlog.close();
      assert.deepEqual(warnings, []);
      assert.match(notes.join('\n'), /imported 6 jobs \(ids up to 7\) from beanstalkd binlog\.1/);
      const jobs = store.jobs;
      assert.deepEqual([...jobs.keys()].sort(), [1, 2, 3, 4, 5, 6]);
      const j = (id: number) => jobs.get(id)!.record;
      assert.deepEqual(
        { ...j(1), createdAtMs: 0 },
        {
          id: 1,
          tube: 'tube-a',
          pri: 5,
          delayMs: 0,
          ttrMs: 60_000,
          createdAtMs: 0,
          deadlineAtMs: 0,
          state: JobState.Ready,
          reserves: 0,
          timeouts: 0,
          releases: 0,
          buries: 0,
          kicks: 0,
        },
      );
      assert.ok(Math.abs(j(1).createdAtMs - putAtMs) < 5000, 'creation time (age) kept');
      assert.equal(jobs.get(1)!.body.toString(), 'hello');
      assert.equal(j(2).state, JobState.Delayed);
      assert.equal(j(2).delayMs, 3_600_000);
      assert.ok(Math.abs(j(2).deadlineAtMs - (putAtMs + 3_600_000)) < 5000, 'absolute deadline kept');
      assert.equal(jobs.get(2)!.body.length, 0);
      assert.equal(j(3).tube, 'tube-b');
      assert.deepEqual(jobs.get(3)!.body, BINARY);
      assert.equal(j(4).state, JobState.Buried);
      assert.equal(j(4).pri, 9);
      assert.equal(j(4).buries, 1);
      assert.equal(j(4).reserves, 1);
      assert.equal(j(5).state, JobState.Delayed);
      assert.equal(j(5).pri, 61);
      assert.equal(j(5).delayMs, 30_000);
      assert.equal(j(5).releases, 1);
      assert.equal(j(6).state, JobState.Ready, 'reserved comes back ready');
      assert.equal(store.nextId, 8, 'the deleted job 7 keeps its id');
      assert.deepEqual(fs.readdirSync(path.join(dir, IMPORTED_DIR)), ['binlog.1']);
      assert.equal(fs.existsSync(path.join(dir, 'binlog.1')), false);
    });

    it('import: happens once; later starts replay stalkd segments only', async () => {
      const dir = copyOfWritten();
      const first = await openStore(dir);
      first.store.delete(1);
      await first.binlog.close();
      const second = await openStore(dir);
      await second.binlog.close();
      assert.deepEqual(second.notes, []);
      assert.deepEqual([...second.store.jobs.keys()].sort(), [2, 3, 4, 5, 6]);
    });

    it('import: an import interrupted after its commit point is finished, not repeated', async () => {
      const dir = copyOfWritten();
      const first = await openStore(dir);
      await first.binlog.close();
      // As if the process died after writing segment 1 but before moving binlog.1 aside.
      fs.renameSync(path.join(dir, IMPORTED_DIR, 'binlog.1'), path.join(dir, 'binlog.1'));
      const second = await openStore(dir);
      await second.binlog.close();
      assert.match(second.notes.join('\n'), /finished an interrupted import/);
      assert.equal(second.store.jobs.size, 6);
      assert.deepEqual(fs.readdirSync(path.join(dir, IMPORTED_DIR)).sort(), ['binlog.1']);
    });

    it('import: beanstalkd files next to unrelated stalkd segments are refused', async () => {
      const dir = tempDir();
      const first = await openStore(dir);
      first.store.put('stalkd job');
      await first.binlog.close();
      fs.copyFileSync(path.join(written, 'binlog.1'), path.join(dir, 'binlog.1'));
      await assert.rejects(openBinlog(dir), (err: unknown) => err instanceof BinlogImportError);
      assert.ok(fs.existsSync(path.join(dir, 'binlog.1')), 'nothing was moved');
      assert.ok(segmentFiles(dir).length > 0);
    });

    it('import: cut, zeroed and garbled beanstalkd files never throw and never invent jobs', () => {
      const data = fs.readFileSync(path.join(written, 'binlog.1'));
      const bodies = ['', 'hello', '', BINARY.toString('latin1'), 'abc', 'rel', 'res', 'del'];
      let seen = 0;
      for (let cut = 0; cut < 1300; cut += 7) {
        const r = readBeanstalkdLog([{ name: 'binlog.1', data: data.subarray(0, cut) }]);
        for (const j of r.jobs)
          assert.equal(j.body.toString('latin1'), bodies[j.record.id], `cut ${cut}: job ${j.record.id}`);
        seen = Math.max(seen, r.jobs.length);
      }
      assert.equal(seen, 7, 'some prefix holds every job (before the delete)');
      const zeroed = readBeanstalkdLog([{ name: 'binlog.2', data: Buffer.alloc(4096) }]);
      assert.deepEqual(zeroed.jobs, []);
      assert.match(zeroed.warnings.join(), /binlog\.2 is empty or all zeros/);
      const v5 = Buffer.from(data);
      v5.writeInt32LE(5, 0);
      assert.match(readBeanstalkdLog([{ name: 'binlog.1', data: v5 }]).warnings.join(), /format version 5/);
      const garbled = Buffer.from(data);
      garbled.writeInt32LE(-3, 4); // the first record's tube name length
      const g = readBeanstalkdLog([{ name: 'binlog.1', data: garbled }]);
      assert.deepEqual(g.jobs, []);
      assert.match(g.warnings.join(), /binlog\.1 at offset 4: impossible tube name length -3/);
    });
  }),
);
