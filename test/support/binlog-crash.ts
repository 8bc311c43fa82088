/**
 * The binlog crash rounds, shared by test/binlog-crash.test.ts (24 kills) and bench/binlog-soak.ts
 * (as many as asked): binlog-crash-child.ts runs 8 concurrent writers in -f 0 and is SIGKILLed at
 * a pseudo-random moment, then restarted on the same directory. After every restart: every put
 * reported durable (the INSERTED moment) for which no delete was issued is present exactly once with
 * its body; no delete reported durable (DELETED) comes back; no id is ever handed out twice.
 * Violations throw AssertionError. The bookkeeping and checks (CrashModel) are shared with the same
 * test through the real server (node-binlog-crash.test.ts), which reads the jobs back over the
 * protocol instead of from a replay.
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

/**
 * What the clients of a crash run know, checked after every restart (shared with the same test
 * through the real server, node-binlog-crash.test.ts): acknowledged puts not since deleted must be
 * present exactly once with their body, acknowledged deletes must stay deleted, no id twice.
 */
export class CrashModel {
  /** Durable puts with no delete issued since: present after every restart, body unchanged. */
  readonly acked = new Map<number, string>();
  private readonly deleted = new Set<number>();
  /** Every id a client was ever given or found after a restart. */
  private readonly everIssued = new Set<number>();
  private maxAcked = 0;

  /**
   * After restart `run`: `jobs` is everything the log holds; `nextId` the id it hands out next
   * when known. Jobs present but never acknowledged were durable but the kill came before the
   * reply: they are adopted (from now on they must stay).
   */
  checkRestart(run: number, jobs: [number, string][], nextId?: number): Map<number, string> {
    const present = new Map(jobs);
    assert.equal(present.size, jobs.length, `run ${run}: no job twice`);
    assert.equal(new Set(present.values()).size, present.size, `run ${run}: no body under two ids`);
    for (const [id, body] of this.acked) {
      assert.equal(present.get(id), body, `run ${run}: acknowledged job ${id} lost or changed`);
    }
    for (const id of this.deleted)
      assert.equal(present.has(id), false, `run ${run}: deleted job ${id} came back`);
    if (nextId !== undefined)
      assert.ok(nextId > this.maxAcked, `run ${run}: next id ${nextId} <= ${this.maxAcked}`);
    for (const [id, body] of present) {
      if (!this.acked.has(id)) this.acked.set(id, body);
      this.everIssued.add(id);
    }
    return present;
  }

  /**
   * What round `run` reported before its kill: puts acknowledged (id, body), deletes issued
   * (acknowledged or not) and deletes acknowledged.
   */
  recordRound(run: number, puts: [number, string][], issued: number[], deletes: number[]): void {
    for (const [id, body] of puts) {
      assert.ok(!this.everIssued.has(id), `run ${run}: id ${id} handed out twice`);
      this.everIssued.add(id);
      this.acked.set(id, body);
      this.maxAcked = Math.max(this.maxAcked, id);
    }
    // A delete issued but not acknowledged may or may not have become durable: the job may stay.
    for (const id of issued) this.acked.delete(id);
    for (const id of deletes) this.deleted.add(id);
  }

  /** The highest id ever acknowledged or found. */
  get maxId(): number {
    let max = this.maxAcked;
    for (const id of this.everIssued) if (id > max) max = id;
    return max;
  }
}

/** Kills the writer `kills` times on dir (then restarts it once more to check the end state). */
export async function crashRounds(
  dir: string,
  kills: number,
  onRound: (run: number, totals: CrashTotals) => void = () => {},
): Promise<CrashTotals> {
  const totals: CrashTotals = { kills: 0, puts: 0, deletes: 0, live: 0 };
  const model = new CrashModel();
  for (let run = 0; run <= kills; run++) {
    const last = run === kills;
    const { replay, puts, issued, deletes } = await runOnce(dir, last ? 0 : 50 + ((run * 37) % 250), run + 1);
    const present = model.checkRestart(run, replay.jobs, replay.nextId);
    model.recordRound(run, puts, issued, deletes);
    totals.puts += puts.length;
    totals.deletes += deletes.length;
    totals.kills = run;
    totals.live = present.size;
    onRound(run, totals);
  }
  return totals;
}
