/**
 * Helpers for the binlog tests: a temp dir per test, a minimal job store standing in for the engine
 * (it keeps jobs, logs every change like the engine does, serves as JobSource and restore target),
 * and a FileOps wrapper that injects errors or holds fsyncs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Binlog, BinlogOptions, FileOps } from '../../src/binlog';
import { nodeFileOps, openBinlog, restoreInto } from '../../src/binlog';
import { type JobRecord, JobState } from '../../src/engine/journal';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Copies a file that another thread or process may be writing or truncating at the same moment (a
 * live binlog: the writer truncates sealed segments on the thread pool). Not fs.copyFileSync: libuv
 * copies the size it saw at the start and loops forever when the source shrinks meanwhile (seen
 * here: the id-ceiling test spun in copyFileSync now and then under load). A read to EOF cannot.
 */
export function copyLiveFile(from: string, to: string): void {
  fs.writeFileSync(to, fs.readFileSync(from));
}

/** Copies the segment files of a live binlog directory into a fresh temp dir: what a kill -9 leaves. */
export function copySegments(from: string, prefix: string): string {
  const to = tempDir(prefix);
  for (const name of fs.readdirSync(from)) {
    if (name.endsWith('.stalkd')) copyLiveFile(path.join(from, name), path.join(to, name));
  }
  return to;
}

/** A fresh directory, removed when the test process exits. */
export function tempDir(prefix = 'stalkd-binlog-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Bytes of the log's files in dir (segments and spares; not the small lock holder file). */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith('.stalkd') && !name.endsWith('.tmp')) continue;
    n += fs.statSync(path.join(dir, name)).size;
  }
  return n;
}

export function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.stalkd'))
    .sort();
}

export interface StoredJob {
  record: JobRecord;
  body: Buffer;
}

/** The engine's side of the contract, reduced to a map. */
export class FakeJobStore {
  readonly jobs = new Map<number, StoredJob>();
  nextId = 1;
  lastSeq = 0;
  /** Ids up to this were granted by the log (the engine's contract: Journal.reserveIds). */
  idCeiling = 0;
  constructor(
    readonly binlog: Binlog,
    readonly nowMs = 1_700_000_000_000,
    serveCompaction = true,
  ) {
    if (serveCompaction) binlog.attachJobSource((id) => this.jobs.get(id));
  }

  restoreJob(record: JobRecord, body: Buffer): void {
    this.jobs.set(record.id, { record: { ...record }, body });
  }

  setNextId(n: number): void {
    this.nextId = n;
  }

  restoreImportKey(): void {}

  /** Returns the new id, or null when the log refused (OUT_OF_MEMORY). */
  put(body: string | Buffer, fields: Partial<JobRecord> = {}): number | null {
    if (this.nextId > this.idCeiling) {
      const ceiling = this.binlog.reserveIds(this.nextId);
      if (ceiling === null) return null;
      this.idCeiling = ceiling;
    }
    const id = this.nextId++;
    const delayMs = fields.delayMs ?? 0;
    const record: JobRecord = {
      id,
      tube: 'default',
      pri: 1024,
      delayMs,
      ttrMs: 60_000,
      createdAtMs: this.nowMs,
      deadlineAtMs: delayMs > 0 ? this.nowMs + delayMs : 0,
      state: delayMs > 0 ? JobState.Delayed : JobState.Ready,
      reserves: 0,
      timeouts: 0,
      releases: 0,
      buries: 0,
      kicks: 0,
      ...fields,
    };
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const seq = this.binlog.logPut(record, buf);
    if (seq === null) return null;
    this.lastSeq = seq;
    this.jobs.set(id, { record, body: Buffer.from(buf) });
    return id;
  }

  /** A logged state change (bury, kick, release); returns false when the log refused. */
  update(id: number, changes: Partial<JobRecord>): boolean {
    const job = this.jobs.get(id);
    if (job === undefined) throw new Error(`no job ${id}`);
    const record = { ...job.record, ...changes };
    const seq = this.binlog.logUpdate(record);
    if (seq === null) return false;
    this.lastSeq = seq;
    job.record = record;
    return true;
  }

  /** An unlogged change (reserve, touch, TTR expiry). */
  mutate(id: number, changes: Partial<JobRecord>): void {
    const job = this.jobs.get(id)!;
    job.record = { ...job.record, ...changes };
  }

  delete(id: number): void {
    this.lastSeq = this.binlog.logDelete(id);
    this.jobs.delete(id);
  }
}

/** Resolves once durableSeq() >= seq. */
export function durable(binlog: Binlog, seq: number): Promise<void> {
  if (binlog.durableSeq() >= seq) return Promise.resolve();
  return new Promise((resolve) => {
    const off = binlog.onDurable((d) => {
      if (d >= seq) {
        off();
        resolve();
      }
    });
  });
}

/** Opens dir and restores its jobs into a fresh FakeJobStore. */
export async function openStore(
  dir: string,
  options: BinlogOptions = { fsyncEveryMs: 0 },
  ops: FileOps = nodeFileOps,
  serveCompaction = true,
): Promise<{ store: FakeJobStore; binlog: Binlog; warnings: string[]; notes: string[] }> {
  const opened = await openBinlog(dir, { log: () => {}, ...options }, ops);
  const store = new FakeJobStore(opened.binlog, undefined, serveCompaction);
  restoreInto(store, opened);
  return { store, binlog: opened.binlog, warnings: opened.warnings, notes: opened.notes };
}

export type FaultRule = (op: string, file: string) => string | undefined;

/**
 * nodeFileOps with a seam: `rule(op, file)` returning an errno code ('ENOSPC', 'EIO') makes that call
 * fail. Counts calls per op; `holdSyncs` parks fdatasync calls until `releaseSyncs()`.
 */
export class FaultyFileOps implements FileOps {
  rule: FaultRule = () => undefined;
  readonly calls = new Map<string, number>();
  holdSyncs = false;
  private held: (() => void)[] = [];
  private readonly fdPaths = new Map<number, string>();
  private readonly waiters: { op: string; resolve: () => void }[] = [];

  /** Resolves at the next call of `op` (an event to wait for instead of a sleep). */
  next(op: string): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ op, resolve }));
  }

  private check(op: string, file: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.op !== op) continue;
      this.waiters.splice(i, 1);
      w.resolve();
    }
    const code = this.rule(op, file);
    if (code !== undefined)
      throw Object.assign(new Error(`${code}: injected fault in ${op} ${file}`), { code });
  }

  private fdPath(fd: number): string {
    return this.fdPaths.get(fd) ?? `fd ${fd}`;
  }

  count(op: string): number {
    return this.calls.get(op) ?? 0;
  }

  releaseSyncs(): void {
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  openSync(file: string, flags: string, mode?: number): number {
    this.check('open', file);
    const fd = nodeFileOps.openSync(file, flags, mode);
    this.fdPaths.set(fd, file);
    return fd;
  }
  closeSync(fd: number): void {
    this.fdPaths.delete(fd);
    nodeFileOps.closeSync(fd);
  }
  readFileSync(file: string): Buffer {
    this.check('read', file);
    return nodeFileOps.readFileSync(file);
  }
  writeSync(fd: number, buf: Buffer, position: number): void {
    this.check('writeSync', this.fdPath(fd));
    nodeFileOps.writeSync(fd, buf, position);
  }
  writevSync(fd: number, bufs: Buffer[], position: number): void {
    this.check('writev', this.fdPath(fd));
    nodeFileOps.writevSync(fd, bufs, position);
  }
  fdatasyncSync(fd: number): void {
    this.check('fdatasync', this.fdPath(fd));
    nodeFileOps.fdatasyncSync(fd);
  }
  fsyncSync(fd: number): void {
    this.check('fsyncSync', this.fdPath(fd));
    nodeFileOps.fsyncSync(fd);
  }
  ftruncateSync(fd: number, bytes: number): void {
    this.check('ftruncate', this.fdPath(fd));
    nodeFileOps.ftruncateSync(fd, bytes);
  }
  renameSync(from: string, to: string): void {
    this.check('rename', from);
    nodeFileOps.renameSync(from, to);
    for (const [fd, p] of this.fdPaths) if (p === from) this.fdPaths.set(fd, to);
  }
  unlinkSync(file: string): void {
    this.check('unlink', file);
    nodeFileOps.unlinkSync(file);
  }
  mkdirSync(file: string): void {
    nodeFileOps.mkdirSync(file);
  }
  readdirSync(file: string): string[] {
    return nodeFileOps.readdirSync(file);
  }
  sizeSync(file: string): number | undefined {
    return nodeFileOps.sizeSync(file);
  }
  fsyncDirSync(dir: string): void {
    this.check('fsyncDirSync', dir);
    nodeFileOps.fsyncDirSync(dir);
  }
  async write(fd: number, buf: Buffer, position: number): Promise<void> {
    this.check('write', this.fdPath(fd));
    await nodeFileOps.write(fd, buf, position);
  }
  async fdatasync(fd: number): Promise<void> {
    this.check('fdatasync', this.fdPath(fd));
    if (this.holdSyncs) await new Promise<void>((go) => this.held.push(go));
    await nodeFileOps.fdatasync(fd);
  }
  async fsync(fd: number): Promise<void> {
    this.check('fsync', this.fdPath(fd));
    await nodeFileOps.fsync(fd);
  }
  async fsyncDir(dir: string): Promise<void> {
    this.check('fsyncDir', dir);
    await nodeFileOps.fsyncDir(dir);
  }
  async ftruncate(fd: number, bytes: number): Promise<void> {
    this.check('ftruncate', this.fdPath(fd));
    await nodeFileOps.ftruncate(fd, bytes);
  }
  async close(fd: number): Promise<void> {
    this.fdPaths.delete(fd);
    await nodeFileOps.close(fd);
  }
  async unlink(file: string): Promise<void> {
    this.check('unlink', file);
    await nodeFileOps.unlink(file);
  }
}

/**
 * nodeFileOps that dies at the `killAt`-th call that can change the disk (opens, writes, syncs,
 * renames, unlinks, mkdir, truncates; counted from 1): that call does not happen — a write happens
 * in part, its first `cutPermille` ‰ of bytes — and it and every later call throw EKILLED, so no
 * clean-up runs either. For synchronous code (the beanstalkd import) the files are then exactly as
 * a SIGKILL at that call leaves them. `changes` counts the changing calls made.
 */
export class KillingFileOps implements FileOps {
  changes = 0;
  dead = false;

  constructor(
    private readonly killAt = Number.POSITIVE_INFINITY,
    private readonly cutPermille = 500,
  ) {}

  private alive(): void {
    if (this.dead) throw Object.assign(new Error('EKILLED: the process is dead'), { code: 'EKILLED' });
  }

  /** A changing call: at killAt, writes `partial` in part and dies. */
  private change(partial?: { fd: number; bufs: Buffer[]; position: number }): void {
    this.alive();
    if (++this.changes < this.killAt) return;
    if (partial) {
      const all = Buffer.concat(partial.bufs);
      const bytes = Math.floor((all.length * this.cutPermille) / 1000);
      if (bytes > 0) nodeFileOps.writeSync(partial.fd, all.subarray(0, bytes), partial.position);
    }
    this.dead = true;
    this.alive();
  }

  openSync(file: string, flags: string, mode?: number): number {
    this.change();
    return nodeFileOps.openSync(file, flags, mode);
  }
  closeSync(fd: number): void {
    this.alive();
    nodeFileOps.closeSync(fd);
  }
  readFileSync(file: string): Buffer {
    this.alive();
    return nodeFileOps.readFileSync(file);
  }
  writeSync(fd: number, buf: Buffer, position: number): void {
    this.change({ fd, bufs: [buf], position });
    nodeFileOps.writeSync(fd, buf, position);
  }
  writevSync(fd: number, bufs: Buffer[], position: number): void {
    this.change({ fd, bufs, position });
    nodeFileOps.writevSync(fd, bufs, position);
  }
  fsyncSync(fd: number): void {
    this.change();
    nodeFileOps.fsyncSync(fd);
  }
  fdatasyncSync(fd: number): void {
    this.change();
    nodeFileOps.fdatasyncSync(fd);
  }
  ftruncateSync(fd: number, bytes: number): void {
    this.change();
    nodeFileOps.ftruncateSync(fd, bytes);
  }
  renameSync(from: string, to: string): void {
    this.change();
    nodeFileOps.renameSync(from, to);
  }
  unlinkSync(file: string): void {
    this.change();
    nodeFileOps.unlinkSync(file);
  }
  mkdirSync(file: string): void {
    this.change();
    nodeFileOps.mkdirSync(file);
  }
  readdirSync(file: string): string[] {
    this.alive();
    return nodeFileOps.readdirSync(file);
  }
  sizeSync(file: string): number | undefined {
    this.alive();
    return nodeFileOps.sizeSync(file);
  }
  fsyncDirSync(dir: string): void {
    this.change();
    nodeFileOps.fsyncDirSync(dir);
  }
  async write(fd: number, buf: Buffer, position: number): Promise<void> {
    this.change({ fd, bufs: [buf], position });
    await nodeFileOps.write(fd, buf, position);
  }
  async fdatasync(fd: number): Promise<void> {
    this.change();
    await nodeFileOps.fdatasync(fd);
  }
  async fsync(fd: number): Promise<void> {
    this.change();
    await nodeFileOps.fsync(fd);
  }
  async fsyncDir(dir: string): Promise<void> {
    this.change();
    await nodeFileOps.fsyncDir(dir);
  }
  async ftruncate(fd: number, bytes: number): Promise<void> {
    this.change();
    await nodeFileOps.ftruncate(fd, bytes);
  }
  async close(fd: number): Promise<void> {
    this.alive();
    await nodeFileOps.close(fd);
  }
  async unlink(file: string): Promise<void> {
    this.change();
    await nodeFileOps.unlink(file);
  }
}
