/**
 * Replay time: writes N live jobs (default 1,000,000, 100-byte bodies, a tenth buried, a tenth
 * delayed) through the binlog, closes it, then times a cold openBinlog (read + checksum + rebuild):
 * wall time, and the process's CPU time (the figure to compare on a loaded machine).
 *
 *   node dist/bench/binlog-replay.js [--jobs 1000000] [--body 100] [--dir /path]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBinlog } from '../src/binlog';
import { type JobRecord, JobState } from '../src/engine/journal';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const JOBS = Number(flag('jobs', '1000000'));
const BODY = Buffer.alloc(Number(flag('body', '100')), 'b');
const BASE = flag('dir', os.tmpdir());

function record(id: number): JobRecord {
  const state = id % 10 === 0 ? JobState.Buried : id % 10 === 1 ? JobState.Delayed : JobState.Ready;
  return {
    id,
    tube: `tube-${id % 16}`,
    pri: id % 1000,
    delayMs: state === JobState.Delayed ? 60_000 : 0,
    ttrMs: 60_000,
    createdAtMs: 1_700_000_000_000 + id,
    deadlineAtMs: state === JobState.Delayed ? 1_800_000_000_000 : 0,
    state,
    reserves: 0,
    timeouts: 0,
    releases: 0,
    buries: state === JobState.Buried ? 1 : 0,
    kicks: 0,
  };
}

function durable(
  binlog: { durableSeq(): number; onDurable(cb: (s: number) => void): () => void },
  seq: number,
) {
  return new Promise<void>((resolve) => {
    if (binlog.durableSeq() >= seq) return resolve();
    const off = binlog.onDurable((d) => {
      if (d >= seq) {
        off();
        resolve();
      }
    });
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(BASE, 'stalkd-replay-'));
  const writer = await openBinlog(dir, { fsyncEveryMs: null });
  const t0 = performance.now();
  for (let id = 1; id <= JOBS; id += 10_000) {
    let seq = 0;
    for (let j = id; j < Math.min(id + 10_000, JOBS + 1); j++)
      seq = writer.binlog.logPut(record(j), BODY) ?? 0;
    await durable(writer.binlog, seq);
  }
  const stats = writer.binlog.stats();
  await writer.binlog.close();
  const writeSeconds = (performance.now() - t0) / 1000;
  const rssBefore = process.memoryUsage().rss;
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const opened = await openBinlog(dir, { fsyncEveryMs: null });
  const replaySeconds = (performance.now() - t1) / 1000;
  const replayCpu = process.cpuUsage(cpu1);
  const rssAfter = process.memoryUsage().rss;
  if (opened.jobs.length !== JOBS) throw new Error(`replayed ${opened.jobs.length} of ${JOBS} jobs`);
  await opened.binlog.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const mib = (n: number) => (n / 1024 / 1024).toFixed(0);
  console.log(
    `${JOBS} jobs, ${BODY.length}-byte bodies, ${mib(stats.diskBytes)} MiB in ${stats.segments} segments\n` +
      `write (-F):  ${writeSeconds.toFixed(2)} s  (${Math.round(JOBS / writeSeconds)} puts/s)\n` +
      `replay:      ${replaySeconds.toFixed(2)} s  (${Math.round(JOBS / replaySeconds)} jobs/s, ` +
      `${(stats.diskBytes / 1024 / 1024 / replaySeconds).toFixed(0)} MiB/s), rss +${mib(rssAfter - rssBefore)} MiB, ` +
      `CPU ${(replayCpu.user / 1e6).toFixed(2)} s user + ${(replayCpu.system / 1e6).toFixed(2)} s system (all threads)`,
  );
}

void main();
