/**
 * The binlog crash rounds, shared by test/binlog-crash.test.ts (24 kills) and bench/binlog-soak.ts
 * (as many as asked): binlog-crash-child.ts runs 8 concurrent writers in -f 0 and is SIGKILLed at
 * a pseudo-random moment, then restarted on the same directory. After every restart: every put
 * reported durable (the INSERTED moment) for which no delete was issued is present exactly once with
 * its body; no delete reported durable (DELETED) comes back; no id is ever handed out twice.
 * Violations throw AssertionError.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const CHILD = path.join(__dirname, 'binlog-crash-child.js');

interface Replay {
  jobs: [number, string][];
  nextId: number;
}

/** Runs the child until killed after `runMs`; returns its replay and what it reported durable. */
function runOnce(dir: string, runMs: number, seed: number) {
  const child = spawn(process.execPath, [CHILD, dir, '8', String(seed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let text = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    text += chunk;
    if (runMs >= 0 && text.startsWith('R ') && text.includes('\n')) {
      setTimeout(() => child.kill('SIGKILL'), runMs);
      runMs = -1;
    }
  });
  return new Promise<{ replay: Replay; puts: [number, string][]; issued: number[]; deletes: number[] }>(
    (resolve, reject) => {
      child.once('exit', (_code, signal) => {
        if (signal !== 'SIGKILL') return reject(new Error(`child died on its own: ${text.slice(-500)}`));
        const lines = text.split('\n');
        lines.pop(); // a line cut by the kill was never a complete report
        const first = lines.shift() ?? '';
        assert.ok(first.startsWith('R '), `no replay line: ${first.slice(0, 200)}`);
        const puts: [number, string][] = [];
        const issued: number[] = [];
        const deletes: number[] = [];
        for (const line of lines) {
          if (line.startsWith('P ')) {
            const sp = line.indexOf(' ', 2);
            puts.push([Number(line.slice(2, sp)), line.slice(sp + 1)]);
          } else if (line.startsWith('X ')) issued.push(Number(line.slice(2)));
          else if (line.startsWith('D ')) deletes.push(Number(line.slice(2)));
        }
        resolve({ replay: JSON.parse(first.slice(2)) as Replay, puts, issued, deletes });
      });
    },
  );
}

export interface CrashTotals {
  kills: number;
  /** Puts reported durable over all rounds. */
  puts: number;
  /** Deletes reported durable over all rounds. */
  deletes: number;
  /** Jobs live at the end. */
  live: number;
}

/** Kills the writer `kills` times on dir (then restarts it once more to check the end state). */
export async function crashRounds(
  dir: string,
  kills: number,
  onRound: (run: number, totals: CrashTotals) => void = () => {},
): Promise<CrashTotals> {
  const totals: CrashTotals = { kills: 0, puts: 0, deletes: 0, live: 0 };
  const acked = new Map<number, string>(); // durable puts with no delete issued
  const deleted = new Set<number>();
  const everIssued = new Set<number>();
  let maxAcked = 0;
  for (let run = 0; run <= kills; run++) {
    const last = run === kills;
    const { replay, puts, issued, deletes } = await runOnce(dir, last ? 0 : 50 + ((run * 37) % 250), run + 1);
    const present = new Map(replay.jobs);
    assert.equal(present.size, replay.jobs.length, 'no job twice');
    for (const [id, body] of acked) {
      assert.equal(present.get(id), body, `run ${run}: acknowledged job ${id} lost or changed`);
    }
    for (const id of deleted) assert.equal(present.has(id), false, `run ${run}: deleted job ${id} came back`);
    assert.ok(replay.nextId > maxAcked, `run ${run}: next id ${replay.nextId} <= ${maxAcked}`);
    // Jobs present but never acknowledged were durable but killed before reporting: adopt them.
    for (const [id, body] of present) if (!acked.has(id)) acked.set(id, body);
    for (const [id, body] of puts) {
      assert.ok(!everIssued.has(id), `run ${run}: id ${id} handed out twice`);
      everIssued.add(id);
      acked.set(id, body);
      maxAcked = Math.max(maxAcked, id);
      totals.puts++;
    }
    // A delete issued but not reported may or may not have become durable: the job may stay.
    for (const id of issued) acked.delete(id);
    for (const id of deletes) deleted.add(id);
    totals.deletes += deletes.length;
    totals.kills = run;
    totals.live = present.size;
    onRound(run, totals);
    for (const id of present.keys()) everIssued.add(id);
  }
  return totals;
}
