/**
 * The crash harness's check after a restart (issue 13's probe): one put, then `peek` of every id
 * from the lowest seen to the probe's id and `stats-job` of each job found, handed to the ledger.
 *
 * Ids between the highest that could have been handed out before the kill and the probe's own id
 * are skipped (after a restart ids may jump forward by a whole block): instead the job count in
 * `stats` must equal the jobs found, which proves no job exists at an id that was not peeked. When
 * it does not, every id from 1 to the probe's is peeked, so the extra jobs are found and checked.
 */
import type { Client } from '../../src/client';
import type { CrashLedger, FoundJob } from './crash-ledger';

/** Peeks in flight at once on the probe connection. */
const PEEK_BATCH = 2000;

export interface ProbeOutcome {
  probeId: number | undefined;
  /** Ids peeked. */
  peeked: number;
  /** Jobs found (all nodes). */
  jobs: number;
}

/** Every job at the given node-local ids of `node` (peek, then stats-job of each one found). */
async function readJobs(
  c: Client,
  ledger: CrashLedger,
  node: number,
  locals: Iterable<number>,
): Promise<Map<number, FoundJob>> {
  const found = new Map<number, FoundJob>();
  let batch: number[] = [];
  const flush = async (): Promise<void> => {
    const peeks = await Promise.all(batch.map((id) => c.peek(id)));
    const jobs = peeks.filter((j, i) => {
      if (j && j.id !== batch[i]) ledger.violation(`peek ${batch[i]} answered FOUND ${j.id}`);
      return j !== null && j.id === batch[i];
    });
    const stats = await Promise.all(jobs.map((j) => c.statsJob(j!.id)));
    stats.forEach((s, i) => {
      const job = jobs[i]!;
      if (s === null || s.id !== job.id) {
        ledger.violation(
          `job ${job.id}: found by peek, stats-job answered ${s ? `id ${s.id}` : 'NOT_FOUND'}`,
        );
        return;
      }
      found.set(job.id, { id: job.id, body: job.body, tube: s.tube, state: s.state, pri: s.pri });
    });
    batch = [];
  };
  for (const local of locals) {
    batch.push(ledger.codec.join(node, local));
    if (batch.length === PEEK_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return found;
}

function* range(
  from: number,
  to: number,
  skipFrom = Number.POSITIVE_INFINITY,
  skipTo = 0,
): Generator<number> {
  for (let id = from; id <= to; id++) {
    if (id >= skipFrom && id <= skipTo) id = skipTo + 1;
    if (id <= to) yield id;
  }
}

async function heldJobs(c: Client): Promise<number> {
  const s = await c.stats();
  return (
    s['current-jobs-ready'] +
    s['current-jobs-reserved'] +
    s['current-jobs-delayed'] +
    s['current-jobs-buried']
  );
}

/**
 * The probe of round `round` after `restarted` came back (every node when undefined: the first
 * start): a put into `probeTube` (a tube of the restarted node), then every node's jobs read back
 * and reconciled with the ledger. Must run with no other traffic.
 */
export async function probeAfterRestart(
  c: Client,
  ledger: CrashLedger,
  nodes: number,
  probeTube: string,
): Promise<ProbeOutcome> {
  const before = Array.from({ length: nodes }, (_, node) => ledger.possibleIds(node));
  const body = Buffer.from(`probe of round ${ledger.round}`);
  const put = ledger.putSent('probe', probeTube, 0, 0, body);
  await c.use(probeTube);
  const reply = await c.raw(`put 0 0 60 ${body.length}`, body);
  ledger.putReplied(put, reply.line);
  const probe = put.id === undefined ? undefined : ledger.codec.split(put.id);

  let peeked = 0;
  const perNode: Map<number, FoundJob>[] = [];
  for (let node = 0; node < nodes; node++) {
    const { min, max } = before[node]!;
    const top = probe?.node === node ? Math.max(max, probe.local) : max;
    // The gap between what the old life could have used and the probe's id is skipped (see header).
    const ids = [...range(min, top, max + 1, probe?.node === node ? probe.local - 1 : 0)];
    peeked += ids.length;
    perNode.push(await readJobs(c, ledger, node, ids));
  }
  let jobs = perNode.reduce((n, m) => n + m.size, 0);
  const held = await heldJobs(c);
  if (held !== jobs) {
    // Some job lies at an id that was skipped (ids not consecutive within a life?): read them all.
    for (let node = 0; node < nodes; node++) {
      const top = Math.max(before[node]!.max, probe?.node === node ? probe.local : 0);
      peeked += top;
      perNode[node] = await readJobs(c, ledger, node, range(1, top));
    }
    jobs = perNode.reduce((n, m) => n + m.size, 0);
    if (held !== jobs)
      ledger.violation(`${held - jobs} of ${held} jobs held at ids above every id handed out`);
  }
  for (let node = 0; node < nodes; node++) ledger.reconcile(node, perNode[node]!);
  return { probeId: put.id, peeked, jobs };
}
