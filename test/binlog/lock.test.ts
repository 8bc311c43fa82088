import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { BinlogLockedError, openBinlog } from '../../src/binlog';
import { HOLDER_FILE } from '../../src/binlog/lock';
import { tempDir } from '../support/binlog-fixtures';
import { BEANSTALKD_PATH, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

const BINLOG_MODULE = path.join(__dirname, '../../src/binlog/index.js');

/** A second process holding dir; resolves once it has the lock. */
function holdInChild(dir: string): Promise<ChildProcess> {
  const script = `require(${JSON.stringify(BINLOG_MODULE)}).openBinlog(${JSON.stringify(dir)}, { log: () => {} })
    .then(() => { process.stdout.write('ready\\n'); setInterval(() => {}, 1000); })
    .catch((e) => { process.stdout.write('error ' + e.message + '\\n'); process.exit(3); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) =>
      chunk.toString().startsWith('ready') ? resolve(child) : reject(new Error(chunk.toString())),
    );
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('binlog lock', () => {
  it('lock: a second open in the same process fails with a clear error', async () => {
    const dir = tempDir();
    const first = await openBinlog(dir, { log: () => {} });
    await assert.rejects(openBinlog(dir), (err: unknown) => {
      assert.ok(err instanceof BinlogLockedError);
      assert.equal(err.code, 'BINLOG_LOCKED');
      assert.match(err.message, new RegExp(`locked by another stalkd process \\(pid ${process.pid} on `));
      return true;
    });
    await first.binlog.close();
    const again = await openBinlog(dir, { log: () => {} });
    await again.binlog.close();
  });

  it('lock: another process is kept off, and its lock dies with it on SIGKILL', async () => {
    const dir = tempDir();
    const child = await holdInChild(dir);
    try {
      await assert.rejects(
        openBinlog(dir),
        new RegExp(`locked by another stalkd process \\(pid ${child.pid} `),
      );
    } finally {
      await kill(child);
    }
    // The holder file of the killed process is still there: it must not block us.
    assert.match(fs.readFileSync(path.join(dir, HOLDER_FILE), 'utf8'), new RegExp(`"pid":${child.pid}`));
    const opened = await openBinlog(dir, { log: () => {} });
    assert.match(fs.readFileSync(path.join(dir, HOLDER_FILE), 'utf8'), new RegExp(`"pid":${process.pid}`));
    await opened.binlog.close();
    assert.equal(fs.existsSync(path.join(dir, HOLDER_FILE)), false, 'a clean close removes the holder file');
  });

  it('lock: the same directory reached through a symlink is the same lock', async () => {
    const dir = tempDir();
    const link = `${dir}-link`;
    fs.symlinkSync(dir, link);
    try {
      const first = await openBinlog(dir, { log: () => {} });
      await assert.rejects(openBinlog(link), BinlogLockedError);
      await first.binlog.close();
    } finally {
      fs.rmSync(link);
    }
  });

  whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () =>
    it('lock: a running beanstalkd on the directory is detected', async () => {
      const dir = tempDir();
      const ref = await startReference(['-b', dir]);
      try {
        // beanstalkd listens before it opens its binlog and takes the lock: wait (bounded) until
        // the kernel lists its lock, so the check below does not race its start-up.
        for (
          let attempt = 0;
          attempt < 500 && !fs.readFileSync('/proc/locks', 'utf8').includes(` ${ref.pid} `);
          attempt++
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await assert.rejects(openBinlog(dir), new RegExp(`in use by beanstalkd \\(pid ${ref.pid} holds `));
      } finally {
        await ref.stop();
      }
    }),
  );
});
