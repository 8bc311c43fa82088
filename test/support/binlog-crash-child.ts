/**
 * Child process for the binlog crash test: opens DIR in -f 0 with tiny segments (so rotation,
 * compaction and unlinking happen all the time), prints what it replayed, then runs WRITERS
 * concurrent writers that put and delete jobs and report each one only once it is durable — the
 * moment a server would send INSERTED / DELETED. The parent SIGKILLs it at random moments.
 *
 * Lines on stdout (a pipe: synchronous on Linux, so a line written before a call is never lost):
 * `R <json {jobs: [[id, body]], nextId}>` once, then `P <id> <body>` (put durable), `X <id>` (delete
 * about to be issued) and `D <id>` (delete durable).
 */
import { openBinlog, restoreInto } from '../../src/binlog';
import { type JobRecord, newJobRecord } from '../../src/engine/journal';

const [dir, writersArg, seedArg] = process.argv.slice(2);
let seed = Number(seedArg ?? 1);
const random = (n: number): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed % n;
};

async function main(): Promise<void> {
  const opened = await openBinlog(dir!, { fsyncEveryMs: 0, segmentBytes: 16 * 1024, log: () => {} });
  const jobs = new Map<number, { record: JobRecord; body: Buffer }>();
  let nextId = 1;

  const { binlog } = opened;
  binlog.attachJobSource((id) => jobs.get(id));
  // Straight from the replay, not from the map: a job replayed twice must be visible to the parent.
  const replayed = opened.jobs.map((j) => [j.record.id, j.body.toString()]);
  restoreInto(
    {
      restoreJob: (record, body) => jobs.set(record.id, { record, body }),
      setNextId: (n) => {
        nextId = n;
      },
    },
    opened,
  );
  process.stdout.write(`R ${JSON.stringify({ jobs: replayed, nextId })}\n`);

  const durable = (seq: number): Promise<void> =>
    binlog.durableSeq() >= seq
      ? Promise.resolve()
      : new Promise((resolve) => {
          const off = binlog.onDurable((d) => {
            if (d >= seq) {
              off();
              resolve();
            }
          });
        });

  const writer = async (): Promise<void> => {
    for (;;) {
      const live = [...jobs.keys()];
      if (live.length > 40 && random(2) === 0) {
        const id = live[random(live.length)]!;
        jobs.delete(id);
        process.stdout.write(`X ${id}\n`);
        await durable(binlog.logDelete(id));
        process.stdout.write(`D ${id}\n`);
        continue;
      }
      const id = nextId++;
      const body = `job-${id}-${'x'.repeat(random(1500))}`;
      const record = newJobRecord(id, `t${random(3)}`, random(1000), 0, 60_000, Date.now());
      const seq = binlog.logPut(record, Buffer.from(body));
      if (seq === null) throw new Error('put refused');
      jobs.set(id, { record, body: Buffer.from(body) });
      await durable(seq);
      process.stdout.write(`P ${id} ${body}\n`);
    }
  };
  for (let i = 0; i < Number(writersArg ?? 8); i++) void writer();
}

void main();
