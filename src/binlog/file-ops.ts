/**
 * Every file system call the binlog makes goes through FileOps, so tests can inject ENOSPC or EIO at
 * a chosen call (beanstalkd's `falloc` seam, generalised). Records are written with a synchronous
 * pwritev (the page cache takes it in microseconds, and it must happen before replies leave); the
 * per-batch fsync is async (libuv thread pool), off the event loop.
 */
import * as fs from 'node:fs';

export interface FileOps {
  openSync(path: string, flags: string, mode?: number): number;
  closeSync(fd: number): void;
  readFileSync(path: string): Buffer;
  /** Writes all of buf at position (loops on short writes). */
  writeSync(fd: number, buf: Buffer, position: number): void;
  /** Writes the buffers back to back starting at position (loops on short writes). */
  writevSync(fd: number, bufs: Buffer[], position: number): void;
  fsyncSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  ftruncateSync(fd: number, bytes: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string): void;
  readdirSync(path: string): string[];
  /** File size in bytes, or undefined when the path does not exist. */
  sizeSync(path: string): number | undefined;
  /** Makes entries created, renamed or removed in dir durable. */
  fsyncDirSync(dir: string): void;

  /** Writes all of buf at position. */
  write(fd: number, buf: Buffer, position: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  fsyncDir(dir: string): Promise<void>;
  ftruncate(fd: number, bytes: number): Promise<void>;
  close(fd: number): Promise<void>;
  unlink(path: string): Promise<void>;
}

function totalBytes(bufs: Buffer[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/** The buffers left after skipping `done` bytes. */
function remainder(bufs: Buffer[], done: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of bufs) {
    if (done >= b.length) {
      done -= b.length;
      continue;
    }
    rest.push(done > 0 ? b.subarray(done) : b);
    done = 0;
  }
  return rest;
}

/** Writes all of bufs back to back from position, on the thread pool (preallocating spares). */
function writevAll(fd: number, bufs: Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (pending: Buffer[], at: number): void => {
      fs.writev(fd, pending, at, (err, written) => {
        if (err) return reject(err);
        const left = totalBytes(pending) - written;
        if (left <= 0) return resolve();
        if (written === 0) return reject(Object.assign(new Error('write made no progress'), { code: 'EIO' }));
        step(remainder(pending, written), at + written);
      });
    };
    step(bufs, position);
  });
}

function callback(resolve: () => void, reject: (e: Error) => void): (err: Error | null) => void {
  return (err) => (err ? reject(err) : resolve());
}

export const nodeFileOps: FileOps = {
  openSync: (path, flags, mode) => fs.openSync(path, flags, mode),
  closeSync: (fd) => fs.closeSync(fd),
  readFileSync: (path) => fs.readFileSync(path),
  writeSync(fd, buf, position) {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  },
  writevSync(fd, bufs, position) {
    let pending = bufs;
    let at = position;
    for (let left = totalBytes(pending); left > 0; ) {
      const written = fs.writevSync(fd, pending, at);
      if (written === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      left -= written;
      at += written;
      if (left > 0) pending = remainder(pending, written);
    }
  },
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  ftruncateSync: (fd, bytes) => fs.ftruncateSync(fd, bytes),
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (path) => fs.unlinkSync(path),
  mkdirSync: (path) => fs.mkdirSync(path, { recursive: true }),
  readdirSync: (path) => fs.readdirSync(path),
  sizeSync(path) {
    try {
      return fs.statSync(path).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  fsyncDirSync(dir) {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  write: (fd, buf, position) => writevAll(fd, [buf], position),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, callback(resolve, reject))),
  fsync: (fd) => new Promise((resolve, reject) => fs.fsync(fd, callback(resolve, reject))),
  ftruncate: (fd, bytes) =>
    new Promise((resolve, reject) => fs.ftruncate(fd, bytes, callback(resolve, reject))),
  close: (fd) => new Promise((resolve, reject) => fs.close(fd, callback(resolve, reject))),
  unlink: (file) => new Promise((resolve, reject) => fs.unlink(file, callback(resolve, reject))),
  fsyncDir: (dir) =>
    new Promise((resolve, reject) => {
      fs.open(dir, 'r', (err, fd) => {
        if (err) return reject(err);
        fs.fsync(fd, (syncErr) => fs.close(fd, () => (syncErr ? reject(syncErr) : resolve())));
      });
    }),
};
