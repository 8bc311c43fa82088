/**
 * The crash test through the real server: `stalkd node -b DIR -f 0 -s 16384` (small segments, so
 * rotation, compaction and unlinking run all the time) takes puts and deletes from 6 connections
 * with 2 commands in flight each, and is SIGKILLed at a seeded random moment, 24 times, then
 * restarted on the same DIR; 4 times each in -f 100 and -F, which promise the same for a crash of
 * the process (not of the machine). The clients' model (CrashModel, shared with the binlog-level
 * binlog-crash.test.ts) records every put answered INSERTED with its body and every delete answered
 * DELETED. After each restart every job the node holds is read back over the protocol (peek of
 * every id that can exist, and `stats` proves none lies beyond): each acknowledged, not deleted put
 * is there once with its body, no acknowledged delete is back, no id is ever answered twice.
 *
 * STALKD_CRASH_SEED=n replays another sequence of kill moments and choices.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Client, ConnectionError } from '../../src/client';
import { CrashModel } from '../support/binlog-crash';
import { tempDir } from '../support/binlog-fixtures';
import { type NodeProcess, startNode } from '../support/node-process';

const KILLS = 24;
const CONNECTIONS = 6;
const IN_FLIGHT_PER_CONNECTION = 2;
const OTHER_MODE_KILLS = 4;
/** Small segments: rotation, compaction and unlinking run all the time. */
const SEGMENT = ['-s', '16384'];
const SEED = Number(process.env.STALKD_CRASH_SEED ?? 20240611);

/** xorshift32: a pseudo-random sequence from a seed. */
function seeded(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
}

interface Round {
  puts: [number, string][];
  issued: number[];
  deletes: number[];
  /** Puts sent that got no reply before the kill: each may hold one id above every answered one. */
  unanswered: number;
  errors: string[];
  /** Called after each acknowledged put (the kill waits for a minimum of them). */
  afterPut: () => void;
}

/** A round is killed once its moment has come AND this many puts were acknowledged in it. */
const MIN_PUTS_PER_ROUND = 30;

/** Every job in the node: peeks ids 1..upTo, then checks with `stats` that no job lies beyond. */
async function readBack(c: Client, upTo: number): Promise<[number, string][]> {
  const jobs: [number, string][] = [];
  for (let from = 1; from <= upTo; from += 1000) {
    const ids = Array.from({ length: Math.min(1000, upTo - from + 1) }, (_, i) => from + i);
    for (const job of await Promise.all(ids.map((id) => c.peek(id)))) {
      if (job) jobs.push([job.id, job.body.toString('latin1')]);
    }
  }
  const s = await c.stats();
  const held =
    s['current-jobs-ready'] +
    s['current-jobs-reserved'] +
    s['current-jobs-delayed'] +
    s['current-jobs-buried'];
  assert.equal(held, jobs.length, `the node holds ${held} jobs, ${jobs.length} with ids up to ${upTo}`);
  return jobs;
}

/** One connection's worker: puts (ids into the pool) and deletes (ids out of it) until the kill. */
async function work(c: Client, pool: number[], round: Round, random: (n: number) => number, label: string) {
  try {
    for (let n = 0; ; n++) {
      if (pool.length > 40 && random(2) === 0) {
        const at = random(pool.length);
        const id = pool[at] as number;
        pool[at] = pool[pool.length - 1] as number;
        pool.pop();
        round.issued.push(id);
        const reply = await c.delete(id);
        if (reply === 'DELETED') round.deletes.push(id);
        else round.errors.push(`delete ${id}: ${reply}`);
        continue;
      }
      const body = `${label}-${n}-${'x'.repeat(random(1500))}`;
      round.unanswered++;
      const id = await c.put(body, { pri: random(1000) });
      round.unanswered--;
      round.puts.push([id, body]);
      pool.push(id);
      round.afterPut();
    }
  } catch (err) {
    if (!(err instanceof ConnectionError)) round.errors.push(String(err));
  }
}

/** One life of the node: read everything back and check it, then load it until the kill. */
async function runRound(
  node: NodeProcess,
  run: number,
  model: CrashModel,
  upTo: number,
  killAfterMs: number,
  random: (n: number) => number,
): Promise<Round | undefined> {
  const control = await node.client();
  model.checkRestart(run, await readBack(control, upTo));
  if (killAfterMs < 0) {
    await control.close();
    const exit = await node.stop();
    assert.deepEqual([exit.code, exit.signal], [0, null], exit.stderr);
    return undefined;
  }
  // The kill comes at a random moment, but never before the round did some work: on a loaded
  // machine a fixed delay alone could end a round before its first put is acknowledged.
  let due = false;
  const killIfDue = (): void => {
    if (due && round.puts.length >= MIN_PUTS_PER_ROUND) node.child.kill('SIGKILL');
  };
  const round: Round = { puts: [], issued: [], deletes: [], unanswered: 0, errors: [], afterPut: killIfDue };
  const pool = [...model.acked.keys()];
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => node.client()));
  await Promise.all(clients.map((c, i) => c.use(`t${i % 3}`)));
  const workers = clients.flatMap((c, i) =>
    Array.from({ length: IN_FLIGHT_PER_CONNECTION }, (_, k) =>
      work(c, pool, round, random, `r${run}c${i}w${k}`),
    ),
  );
  const timer = setTimeout(() => {
    due = true;
    killIfDue();
  }, killAfterMs);
  const exit = await node.exited;
  clearTimeout(timer);
  assert.equal(exit.signal, 'SIGKILL', `run ${run}: the node died on its own: ${exit.stderr}`);
  await Promise.all(workers);
  assert.deepEqual(round.errors, [], `run ${run}`);
  return round;
}

/** Kills `stalkd node -b DIR ...mode` `kills` times on one DIR, checking after every restart. */
async function crashRun(mode: string[], kills: number): Promise<void> {
  const dir = tempDir('stalkd-node-crash-');
  // Kill moments come from their own sequence: the same seed gives the same moments whatever
  // the load's interleaving draws from its own.
  const killRandom = seeded(SEED);
  const random = seeded(SEED ^ 0x5bd1e995);
  const model = new CrashModel();
  const totals = { puts: 0, deletes: 0, kills: 0 };
  let upTo = 0;
  for (let run = 0; run <= kills; run++) {
    const node = await startNode(dir, [...mode, ...SEGMENT]);
    const killAfterMs = run === kills ? -1 : 20 + killRandom(280);
    const round = await runRound(node, run, model, upTo, killAfterMs, random).finally(() => node.kill());
    if (round === undefined) break;
    model.recordRound(run, round.puts, round.issued, round.deletes);
    upTo = model.maxId + round.unanswered;
    totals.puts += round.puts.length;
    totals.deletes += round.deletes.length;
    totals.kills++;
  }
  console.log(
    `node binlog crash ${mode.join(' ')}: ${totals.kills} kills, ${totals.puts} INSERTED and ${totals.deletes} DELETED checked, ${model.acked.size} jobs live`,
  );
  assert.equal(totals.kills, kills);
  assert.ok(totals.puts > kills * 20, `only ${totals.puts} puts were acknowledged`);
  assert.ok(totals.deletes > kills, `only ${totals.deletes} deletes were acknowledged`);
}

describe('node binlog crash', () => {
  it(
    `crash: ${KILLS} SIGKILLs of stalkd node -f 0 under load from ${CONNECTIONS} connections lose no acknowledged put or delete (seed ${SEED})`,
    {
      timeout: 120_000,
    },
    () => crashRun(['-f', '0'], KILLS),
  );

  // -f MS and -F promise the same for a process crash: a record is handed to the OS before its reply.
  for (const mode of [['-f', '100'], ['-F']]) {
    it(
      `crash: ${OTHER_MODE_KILLS} SIGKILLs of stalkd node ${mode.join(' ')} under load lose no acknowledged put or delete (seed ${SEED})`,
      {
        timeout: 60_000,
      },
      () => crashRun(mode, OTHER_MODE_KILLS),
    );
  }
});
