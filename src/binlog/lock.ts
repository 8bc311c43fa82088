/**
 * One process per binlog directory.
 *
 * Node has no fcntl/flock, so on Linux the lock is a listening socket in the abstract namespace named
 * after the directory's device and inode (`\0stalkd-binlog:<dev>:<ino>`). Binding is atomic and
 * exclusive, and the kernel releases the name when the process dies however it dies (SIGKILL
 * included): a stale lock cannot exist and pid reuse cannot fool it. Guarantee: two stalkd processes
 * on the same host and in the same network namespace never hold the same directory (bind mounts and
 * symlinks included, since the name comes from dev:ino). Not covered: other hosts sharing the
 * directory over a network file system, or containers with separate network namespaces — for the
 * latter the holder file below adds a best-effort check (same kernel boot, pid alive with the same
 * start time).
 *
 * `DIR/stalkd.lock` records the holder (pid, process start time, boot id, host) for the error message.
 * Elsewhere than Linux only that file is used (pid liveness check; weaker: two processes starting at
 * the same moment on a stale file could both win).
 *
 * beanstalkd itself holds an fcntl write lock on `DIR/lock`; /proc/locks shows it, so starting stalkd
 * on a directory a running beanstalkd still uses fails with a clear message too.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const HOLDER_FILE = 'stalkd.lock';

export class BinlogLockedError extends Error {
  readonly code = 'BINLOG_LOCKED';
}

export interface DirLock {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  startTicks: string;
  bootId: string;
  hostname: string;
  startedAt: string;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot (with the pid: a process identity). */
function processStartTicks(pid: number | 'self'): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function ourHolder(): Holder {
  return {
    pid: process.pid,
    startTicks: processStartTicks('self') ?? '',
    bootId: readOr('/proc/sys/kernel/random/boot_id', ''),
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
  };
}

function readHolder(dir: string): Holder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(path.join(dir, HOLDER_FILE), 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' ? (h as Holder) : undefined;
  } catch {
    return undefined;
  }
}

function describe(h: Holder | undefined): string {
  return h ? ` (pid ${h.pid} on ${h.hostname}, since ${h.startedAt})` : '';
}

/** True when the holder is verifiably a live process of this boot (same pid and start time). */
function holderAlive(h: Holder): boolean {
  if (h.pid === process.pid) return false;
  if (process.platform !== 'linux') {
    try {
      process.kill(h.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  const bootId = readOr('/proc/sys/kernel/random/boot_id', '');
  return h.bootId === bootId && h.startTicks !== '' && processStartTicks(h.pid) === h.startTicks;
}

/** The pid holding an fcntl lock on DIR/lock (a running beanstalkd), if any. */
export function beanstalkdHolder(dir: string): number | undefined {
  let st: fs.Stats;
  let locks: string;
  try {
    st = fs.statSync(path.join(dir, 'lock'));
    locks = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  // /proc/locks prints the device as hex major:minor (glibc's dev_t split) and the inode in decimal.
  const major = ((st.dev >>> 8) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
  const minor = (st.dev & 0xff) | ((st.dev >>> 12) & ~0xff & 0xfffff);
  const key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === 'POSIX' && f[5] === key) return Number(f[4]);
  }
  return undefined;
}

function listenAbstract(name: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen({ path: `\0${name}`, exclusive: true }, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

/** Takes the directory or throws BinlogLockedError naming the holder. */
export async function lockDirectory(dir: string): Promise<DirLock> {
  const st = fs.statSync(dir, { bigint: true });
  if (!st.isDirectory()) throw new BinlogLockedError(`binlog path ${dir} is not a directory`);
  const bPid = beanstalkdHolder(dir);
  if (bPid !== undefined) {
    throw new BinlogLockedError(
      `binlog directory ${dir} is in use by beanstalkd (pid ${bPid} holds ${path.join(dir, 'lock')}); stop it first`,
    );
  }
  let server: net.Server | undefined;
  if (process.platform === 'linux') {
    try {
      server = await listenAbstract(`stalkd-binlog:${st.dev}:${st.ino}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      throw new BinlogLockedError(
        `binlog directory ${dir} is locked by another stalkd process${describe(readHolder(dir))}`,
      );
    }
  }
  const previous = readHolder(dir);
  if (previous !== undefined && holderAlive(previous)) {
    server?.close();
    throw new BinlogLockedError(
      `binlog directory ${dir} is locked by another stalkd process${describe(previous)}`,
    );
  }
  const holderPath = path.join(dir, HOLDER_FILE);
  const tmp = `${holderPath}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(ourHolder())}\n`);
  fs.renameSync(tmp, holderPath);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      if (readHolder(dir)?.pid === process.pid) fs.rmSync(holderPath, { force: true });
      if (server !== undefined) await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
