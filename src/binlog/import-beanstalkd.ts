/**
 * One-time migration from beanstalkd: `stalkd node -b DIR` on a directory holding beanstalkd's
 * `binlog.N` files (format 7, x86-64 layout) loads their jobs, writes them as segment 1 and moves the
 * originals into DIR/beanstalkd-binlog-imported/.
 *
 * beanstalkd's format (native endianness, C struct layout): a file starts with int32 version (7);
 * then records: int32 tube-name length, the name, an 80-byte Jobrec, and — when the name length is
 * not 0 (a full record) — the body including its trailing CRLF. A name length of 0 is a short record:
 * a state update of a job already known. Jobrec: id u64 @0, pri u32 @8, delay i64 ns @16, ttr i64 ns
 * @24, body size i32 @32 (with CRLF), created at i64 ns since epoch @40, deadline at i64 ns @48,
 * reserves/timeouts/releases/buries/kicks u32 @56..72, state u8 @76 (0 deleted, 1 ready,
 * 2 reserved, 3 buried, 4 delayed). Files are preallocated with zeros: id 0 ends the data.
 *
 * Crash safety: the converted segment is written under a temporary name, fsynced, then renamed (the
 * commit point; its start record is flagged "imported"); only then are the originals moved. If that
 * move was interrupted, the next start finds the flagged segment and only finishes the move.
 */
import * as path from 'node:path';
import { type JobRecord, JobState } from '../engine/journal';
import type { FileOps } from './file-ops';
import {
  encodeFileHeader,
  encodePut,
  encodeStart,
  isZero,
  PUT_IMPORTED,
  putRecordBytes,
  START_IMPORTED,
  START_RECORD_BYTES,
} from './format';
import { newSpareName, segmentFileName } from './segment';

export const IMPORTED_DIR = 'beanstalkd-binlog-imported';
const BINLOG_NAME = /^binlog\.(\d+)$/;
const JOBREC_BYTES = 80;
const MAX_TUBE_NAME = 200;
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]*$/;
const NS_PER_MS = 1_000_000n;
const STATES: readonly (JobState | undefined)[] = [
  undefined,
  JobState.Ready,
  JobState.Ready, // reserved: the reservation died with the process
  JobState.Buried,
  JobState.Delayed,
];

export class BinlogImportError extends Error {
  readonly code = 'BINLOG_IMPORT';
}

interface ImportedJob {
  record: JobRecord;
  body: Buffer;
  /** Position of the job's latest record across all files: buried jobs keep their order. */
  order: number;
}

export interface BeanstalkdLog {
  jobs: ImportedJob[];
  maxId: number;
  warnings: string[];
}

export function listBeanstalkdFiles(ops: FileOps, dir: string): string[] {
  return ops
    .readdirSync(dir)
    .filter((n) => BINLOG_NAME.test(n))
    .sort((a, b) => Number(BINLOG_NAME.exec(a)![1]) - Number(BINLOG_NAME.exec(b)![1]));
}

const nsToMs = (buf: Buffer, off: number): number => Number(buf.readBigInt64LE(off) / NS_PER_MS);

/** A damaged or cut-off tail; an all-zero one is just the unused preallocation. */
function noteTail(warnings: string[], name: string, data: Buffer, off: number, what: string): void {
  if (!isZero(data, off, data.length))
    warnings.push(`beanstalkd ${name} at offset ${off}: ${what}; rest skipped`);
}

/** Reads beanstalkd binlog files (in order) into the set of live jobs. Never throws on bad data. */
export function readBeanstalkdLog(files: { name: string; data: Buffer }[]): BeanstalkdLog {
  const live = new Map<number, ImportedJob>();
  const warnings: string[] = [];
  let maxId = 0;
  let order = 0;
  for (const { name, data } of files) {
    if (data.length < 4 || isZero(data, 0, data.length)) {
      warnings.push(`beanstalkd ${name} is empty or all zeros: nothing to import from it`);
      continue;
    }
    const version = data.readInt32LE(0);
    if (version !== 7) {
      warnings.push(`beanstalkd ${name} has format version ${version}, only 7 is supported: not imported`);
      continue;
    }
    let off = 4;
    while (off < data.length) {
      if (off + 4 + JOBREC_BYTES > data.length) {
        noteTail(warnings, name, data, off, 'truncated record');
        break;
      }
      const nameBytes = data.readInt32LE(off);
      if (nameBytes < 0 || nameBytes > MAX_TUBE_NAME || off + 4 + nameBytes + JOBREC_BYTES > data.length) {
        noteTail(warnings, name, data, off, `impossible tube name length ${nameBytes}`);
        break;
      }
      const tube = data.toString('latin1', off + 4, off + 4 + nameBytes);
      const r = off + 4 + nameBytes;
      const id = Number(data.readBigUInt64LE(r));
      if (id === 0) break; // preallocated zeros: end of data
      const bodyBytes = data.readInt32LE(r + 32);
      const stateCode = data[r + 76]!;
      const end = r + JOBREC_BYTES + (nameBytes > 0 ? bodyBytes : 0);
      if (nameBytes > 0 && (bodyBytes < 2 || end > data.length)) {
        noteTail(warnings, name, data, off, `impossible body size ${bodyBytes}`);
        break;
      }
      const recordAt = off;
      off = end;
      if (id > maxId) maxId = id;
      const state = STATES[stateCode];
      if (stateCode !== 0 && state === undefined) {
        warnings.push(
          `beanstalkd ${name} at offset ${recordAt}: job ${id} has unknown state ${stateCode}; skipped`,
        );
        continue;
      }
      const meta = {
        id,
        pri: data.readUInt32LE(r + 8),
        delayMs: nsToMs(data, r + 16),
        ttrMs: nsToMs(data, r + 24),
        createdAtMs: nsToMs(data, r + 40),
        deadlineAtMs: state === JobState.Delayed ? nsToMs(data, r + 48) : 0,
        state: state ?? JobState.Ready,
        reserves: data.readUInt32LE(r + 56),
        timeouts: data.readUInt32LE(r + 60),
        releases: data.readUInt32LE(r + 64),
        buries: data.readUInt32LE(r + 68),
        kicks: data.readUInt32LE(r + 72),
      };
      if (nameBytes === 0) {
        const job = live.get(id);
        if (job === undefined) continue; // its full record was in a file beanstalkd had already deleted
        if (stateCode === 0) live.delete(id);
        else live.set(id, { record: { ...meta, tube: job.record.tube }, body: job.body, order: ++order });
        continue;
      }
      const body = data.subarray(r + JOBREC_BYTES, end);
      if (!TUBE_NAME.test(tube) || body[bodyBytes - 2] !== 13 || body[bodyBytes - 1] !== 10) {
        warnings.push(
          `beanstalkd ${name} at offset ${recordAt}: job ${id} has a bad tube name or body; skipped`,
        );
        continue;
      }
      if (stateCode === 0) live.delete(id);
      else
        live.set(id, {
          record: { ...meta, tube },
          body: Buffer.from(body.subarray(0, bodyBytes - 2)),
          order: ++order,
        });
    }
  }
  const jobs = [...live.values()].sort((a, b) => a.order - b.order);
  return { jobs, maxId, warnings };
}

/** Writes the jobs as segment 1 (temporary name, fsync, rename, directory fsync). */
function writeImportSegment(ops: FileOps, dir: string, log: BeanstalkdLog): void {
  const tmp = path.join(dir, newSpareName());
  const fd = ops.openSync(tmp, 'wx', 0o600);
  try {
    let at = 0;
    const write = (buf: Buffer): void => {
      ops.writeSync(fd, buf, at);
      at += buf.length;
    };
    write(encodeFileHeader(Date.now()));
    const start = Buffer.alloc(START_RECORD_BYTES);
    encodeStart(start, 0, 1, log.maxId, 1, START_IMPORTED);
    write(start);
    let lsn = 2;
    let chunk = Buffer.allocUnsafe(1024 * 1024);
    let used = 0;
    for (const job of log.jobs) {
      const bytes = putRecordBytes(job.record.tube, job.body.length);
      if (used + bytes > chunk.length) {
        write(chunk.subarray(0, used));
        used = 0;
        if (bytes > chunk.length) chunk = Buffer.allocUnsafe(bytes);
      }
      used += encodePut(chunk, used, lsn++, job.record, job.body, 0, PUT_IMPORTED);
    }
    write(chunk.subarray(0, used));
    ops.fsyncSync(fd);
  } catch (err) {
    ops.closeSync(fd);
    ops.unlinkSync(tmp);
    throw err;
  }
  ops.closeSync(fd);
  ops.renameSync(tmp, path.join(dir, segmentFileName(1)));
  ops.fsyncDirSync(dir);
}

/** Moves beanstalkd's files into DIR/beanstalkd-binlog-imported/ (never overwriting an earlier copy). */
function moveAside(ops: FileOps, dir: string, files: string[]): void {
  const aside = path.join(dir, IMPORTED_DIR);
  ops.mkdirSync(aside);
  for (const name of files) {
    let target = path.join(aside, name);
    for (let n = 1; ops.sizeSync(target) !== undefined; n++) target = path.join(aside, `${name}.${n}`);
    ops.renameSync(path.join(dir, name), target);
  }
  ops.fsyncDirSync(aside);
  ops.fsyncDirSync(dir);
}

export interface ImportOutcome {
  /** Jobs converted (0 when there was nothing to import). */
  jobs: number;
  files: string[];
  warnings: string[];
  notes: string[];
}

/**
 * Imports beanstalkd binlog files found in dir, if any. `hasSegments`/`oldestIsImport` describe the
 * stalkd segments already there: with segments from an earlier import only the move is finished;
 * with other stalkd data the two logs cannot be merged safely and BinlogImportError is thrown.
 */
export function importBeanstalkd(
  ops: FileOps,
  dir: string,
  hasSegments: boolean,
  oldestIsImport: () => boolean,
): ImportOutcome {
  const files = listBeanstalkdFiles(ops, dir);
  const outcome: ImportOutcome = { jobs: 0, files, warnings: [], notes: [] };
  if (files.length === 0) return outcome;
  if (hasSegments) {
    if (!oldestIsImport()) {
      throw new BinlogImportError(
        `binlog directory ${dir} holds both stalkd segments and beanstalkd files (${files.join(', ')}); ` +
          'move the beanstalkd files away or start with an empty directory',
      );
    }
    moveAside(ops, dir, files);
    outcome.notes.push(`finished an interrupted import: moved ${files.join(', ')} to ${IMPORTED_DIR}/`);
    return outcome;
  }
  const log = readBeanstalkdLog(
    files.map((name) => ({ name, data: ops.readFileSync(path.join(dir, name)) })),
  );
  writeImportSegment(ops, dir, log);
  moveAside(ops, dir, files);
  outcome.jobs = log.jobs.length;
  outcome.warnings = log.warnings;
  outcome.notes.push(
    `imported ${log.jobs.length} jobs (ids up to ${log.maxId}) from beanstalkd ${files.join(', ')}; ` +
      `originals moved to ${path.join(dir, IMPORTED_DIR)}/`,
  );
  return outcome;
}
