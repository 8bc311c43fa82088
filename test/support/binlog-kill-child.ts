/**
 * Child process for test/binlog/import-crash.test.ts: opens DIR as `stalkd node -b DIR -f 0` does
 * (openBinlog: lock, beanstalkd import, replay, a new segment), then closes it, and SIGKILLs itself
 * at the KILL_AT-th file system call that can change the disk (opens, writes, syncs, renames,
 * unlinks, mkdir, truncates; counted from 1, background ones included). The call does not happen,
 * except a write, which happens in part (its first CUT_PERMILLE ‰ of bytes), as a kill in the middle
 * of it would leave it. Without KILL_AT it runs to the end and prints `changes <n>`.
 *
 *   node binlog-kill-child.js DIR [KILL_AT CUT_PERMILLE]
 */
import * as fs from 'node:fs';
import { type FileOps, nodeFileOps, openBinlog } from '../../src/binlog';

const [dir, killAtArg, cutArg] = process.argv.slice(2);
const killAt = killAtArg === undefined ? Number.POSITIVE_INFINITY : Number(killAtArg);
const cutPermille = Number(cutArg ?? 500);
let changes = 0;

/** Counts a call that can change the disk; at KILL_AT writes `partial` (if any) and dies. */
function step(partial?: { fd: number; bufs: Buffer[]; position: number }): void {
  if (++changes < killAt) return;
  if (partial) {
    const all = Buffer.concat(partial.bufs);
    const bytes = Math.floor((all.length * cutPermille) / 1000);
    if (bytes > 0) fs.writeSync(partial.fd, all, 0, bytes, partial.position);
  }
  process.kill(process.pid, 'SIGKILL');
}

const ops: FileOps = {
  ...nodeFileOps,
  openSync(path, flags, mode) {
    step();
    return nodeFileOps.openSync(path, flags, mode);
  },
  writeSync(fd, buf, position) {
    step({ fd, bufs: [buf], position });
    nodeFileOps.writeSync(fd, buf, position);
  },
  writevSync(fd, bufs, position) {
    step({ fd, bufs, position });
    nodeFileOps.writevSync(fd, bufs, position);
  },
  write(fd, buf, position) {
    step({ fd, bufs: [buf], position });
    return nodeFileOps.write(fd, buf, position);
  },
  fsyncSync(fd) {
    step();
    nodeFileOps.fsyncSync(fd);
  },
  fdatasyncSync(fd) {
    step();
    nodeFileOps.fdatasyncSync(fd);
  },
  ftruncateSync(fd, bytes) {
    step();
    nodeFileOps.ftruncateSync(fd, bytes);
  },
  renameSync(from, to) {
    step();
    nodeFileOps.renameSync(from, to);
  },
  unlinkSync(path) {
    step();
    nodeFileOps.unlinkSync(path);
  },
  mkdirSync(path) {
    step();
    nodeFileOps.mkdirSync(path);
  },
  fsyncDirSync(path) {
    step();
    nodeFileOps.fsyncDirSync(path);
  },
  fdatasync(fd) {
    step();
    return nodeFileOps.fdatasync(fd);
  },
  fsync(fd) {
    step();
    return nodeFileOps.fsync(fd);
  },
  fsyncDir(path) {
    step();
    return nodeFileOps.fsyncDir(path);
  },
  ftruncate(fd, bytes) {
    step();
    return nodeFileOps.ftruncate(fd, bytes);
  },
  unlink(path) {
    step();
    return nodeFileOps.unlink(path);
  },
};

async function main(): Promise<void> {
  const opened = await openBinlog(dir as string, { fsyncEveryMs: 0, log: () => {} }, ops);
  await opened.binlog.close();
  process.stdout.write(`changes ${changes}\n`);
}

void main();
