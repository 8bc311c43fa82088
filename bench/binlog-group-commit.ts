/**
 * Durable throughput of the binlog alone (no sockets): N writers each log a put and wait until it is
 * durable before the next — what N connections doing `put` against `stalkd node -b DIR -f 0` cost the
 * log. Group commit should make records/s grow with N while fsyncs/s stays near the disk's limit.
 *
 *   node dist/bench/binlog-group-commit.js [--seconds 3] [--body 100] [--writers 1,4,16,64,256]
 *                                          [--modes 0,50,F] [--dir /path/on/the/disk/to/test]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBinlog } from '../src/binlog';
import { type JobRecord, newJobRecord } from '../src/engine/journal';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const SECONDS = Number(flag('seconds', '3'));
const BODY = Buffer.alloc(Number(flag('body', '100')), 'x');
const WRITERS = flag('writers', '1,4,16,64,256').split(',').map(Number);
const MODES = flag('modes', '0,50,F').split(',');
const BASE = flag('dir', os.tmpdir());

function record(id: number): JobRecord {
  return newJobRecord(id, 'default', 1024, 0, 60_000, Date.now());
}

async function measure(mode: string, writers: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(BASE, 'stalkd-bench-'));
  const fsyncEveryMs = mode === 'F' ? null : Number(mode);
  const { binlog } = await openBinlog(dir, { fsyncEveryMs });
  const jobs = new Map<number, JobRecord>();
  binlog.attachJobSource((id) => {
    const r = jobs.get(id);
    return r ? { record: r, body: BODY } : undefined;
  });
  const waiting = new Map<number, () => void>();
  binlog.onDurable((seq) => {
    for (const [s, go] of waiting) {
      if (s <= seq) {
        waiting.delete(s);
        go();
      }
    }
  });
  let nextId = 1;
  let done = 0;
  const latenciesUs: number[] = [];
  const fsyncsBefore = binlog.stats().fsyncs;
  const endAt = performance.now() + SECONDS * 1000;
  const writer = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const id = nextId++;
      const r = record(id);
      const t0 = performance.now();
      const seq = binlog.logPut(r, BODY);
      if (seq === null) throw new Error('put refused');
      jobs.set(id, r);
      if (binlog.durableSeq() < seq) await new Promise<void>((go) => waiting.set(seq, go));
      latenciesUs.push((performance.now() - t0) * 1000);
      done++;
      // Keep the live set bounded like a queue being consumed.
      const old = id - 1000;
      if (jobs.delete(old)) binlog.logDelete(old);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  const seconds = (performance.now() - started) / 1000;
  const fsyncs = binlog.stats().fsyncs - fsyncsBefore;
  await binlog.close();
  fs.rmSync(dir, { recursive: true, force: true });
  latenciesUs.sort((a, b) => a - b);
  const p = (q: number) => Math.round(latenciesUs[Math.floor(q * (latenciesUs.length - 1))] ?? 0);
  const label = mode === 'F' ? '-F' : `-f ${mode}`;
  return [
    label.padEnd(6),
    String(writers).padStart(7),
    String(Math.round(done / seconds)).padStart(12),
    String(Math.round(fsyncs / seconds)).padStart(9),
    (fsyncs > 0 ? (done / fsyncs).toFixed(1) : '-').padStart(13),
    String(p(0.5)).padStart(9),
    String(p(0.99)).padStart(9),
  ].join(' ');
}

async function main(): Promise<void> {
  console.log(`binlog durable puts, ${BODY.length}-byte bodies, ${SECONDS} s per row, dir ${BASE}`);
  console.log('mode   writers  durable/s   fsyncs/s  puts/fsync  p50 µs    p99 µs');
  for (const mode of MODES) {
    for (const writers of WRITERS) console.log(await measure(mode, writers));
  }
}

void main();
