/**
 * Batched moves killed with a batch in flight (docs/migration.md, "Exactly once between stalkd
 * nodes"): `stalkd migrate` is SIGKILLed while one batch is half way through each of its three
 * pipelined steps — some x-move-outs sent and the rest not, some x-imports acknowledged and the rest
 * not, some x-move-dones done and the rest not. A gate relay in front of one node holds the
 * connection's requests from a chosen one on, so the cut falls at an exact place in the batch. The
 * next run finishes the batch: every job on the destination exactly once, in its state, buried
 * order, priority and remaining delay (within 1 s) kept, nothing left on the source or moving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from '../../src/client/client';
import { listMoving, MOVE_BATCH_JOBS } from '../../src/client/job-move';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { CommandGate } from '../support/command-gate';
import { migrateOnce } from '../support/elastic-load';
import { eventually } from '../support/processes';

const TUBE = 'mb';
const BURIED = 150;
const DELAYED = 40;
const READY = 40;
const DELAY_SECS = 3600;

/** When each delayed job d-i was acknowledged (its delay runs from a moment just before). */
const delayedPutAtMs: number[] = [];

/** Source node-0 holds TUBE, pinned to node-1: buried b-i (pri i), delayed d-i, ready r-i. */
async function fill(source: Client): Promise<void> {
  await source.use(TUBE);
  await source.watch(TUBE);
  for (let i = 0; i < BURIED; i++) {
    const id = await source.put(`b-${i}`, { pri: i });
    assert.ok(typeof (await source.reserveJob(id)) === 'object');
    assert.equal(await source.bury(id, i), 'BURIED');
  }
  for (let i = 0; i < DELAYED; i++) {
    await source.put(`d-${i}`, { pri: 5, delaySecs: DELAY_SECS + i });
    delayedPutAtMs[i] = Date.now();
  }
  for (let i = 0; i < READY; i++) await source.put(`r-${i}`, { pri: 1000 + ((i * 7) % READY) });
}

async function tubeCounts(c: Client): Promise<{ buried: number; delayed: number; ready: number }> {
  const s = await c.statsTube(TUBE);
  return {
    buried: s?.['current-jobs-buried'] ?? 0,
    delayed: s?.['current-jobs-delayed'] ?? 0,
    ready: s?.['current-jobs-ready'] ?? 0,
  };
}

/** Empties TUBE on the destination, checking each job: every one once, states, order, pri, delay. */
async function checkDestination(dest: Client): Promise<void> {
  assert.deepEqual(await tubeCounts(dest), { buried: BURIED, delayed: DELAYED, ready: READY });
  assert.equal(
    (await dest.statsTube(TUBE))?.['total-jobs'],
    BURIED + DELAYED + READY,
    'no job imported twice',
  );
  await dest.use(TUBE);
  await dest.watch(TUBE);
  for (let i = 0; i < BURIED; i++) {
    const job = await dest.peekBuried();
    assert.ok(job);
    assert.equal(job.body.toString(), `b-${i}`, 'buried order kept');
    assert.equal((await dest.statsJob(job.id))?.pri, i);
    await dest.delete(job.id);
  }
  for (let i = 0; i < DELAYED; i++) {
    const job = await dest.peekDelayed();
    assert.ok(job);
    assert.equal(job.body.toString(), `d-${i}`);
    const exact = DELAY_SECS + i - (Date.now() - (delayedPutAtMs[i] as number)) / 1000;
    const left = (await dest.statsJob(job.id))?.['time-left'] ?? 0;
    // time-left is whole seconds, rounded down: the remaining delay is kept within 1 s.
    assert.ok(
      left <= exact + 0.25 && left >= exact - 1.25,
      `d-${i}: ${left} s left, ${exact.toFixed(2)} s exact`,
    );
    await dest.delete(job.id);
  }
  for (let i = 0; i < READY; i++) {
    const job = await dest.reserveWithTimeout(0);
    assert.ok(typeof job === 'object');
    const n = Number(job.body.toString().slice(2));
    const pri = (await dest.statsJob(job.id))?.pri;
    assert.equal(pri, 1000 + ((n * 7) % READY), `r-${n}'s priority kept`);
    assert.equal(pri, 1000 + i, 'reserved in priority order');
    await dest.delete(job.id);
  }
  assert.deepEqual(await tubeCounts(dest), { buried: 0, delayed: 0, ready: 0 });
}

interface Cut {
  /** The request the gate holds from its (pass + 1)-th on, and on which node. */
  word: 'x-move-out' | 'x-import' | 'x-move-done';
  on: 'source' | 'dest';
  pass: number;
  /** What the nodes hold when migrate is killed: jobs moving on the source, buried on the destination. */
  moving: number;
  imported: number;
}

async function killMidBatch(cut: Cut): Promise<void> {
  const servers: NodeServer[] = await Promise.all(
    [0, 1].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })),
  );
  const [source, dest] = await Promise.all(
    servers.map((s) => Client.connect({ host: '127.0.0.1', port: s.port, timeoutMs: 5000 })),
  );
  const gate = await CommandGate.start(
    (servers[cut.on === 'source' ? 0 : 1] as NodeServer).port,
    cut.word,
    cut.pass,
  );
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-move-batch-'));
  const file = join(dir, 'topology.json');
  const topology = (ports: number[]) =>
    JSON.stringify({
      nodes: ports.map((port, index) => ({ name: `node-${index}`, index, host: '127.0.0.1', port })),
      pins: { [TUBE]: 'node-1' },
    });
  const ports = servers.map((s) => s.port);
  try {
    await fill(source as Client);
    writeFileSync(file, topology(ports.map((p, i) => (i === (cut.on === 'source' ? 0 : 1) ? gate.port : p))));
    let killed: Promise<void> | undefined;
    const run = migrateOnce(file, (child) => {
      killed = gate.held.then(async () => {
        try {
          // Everything sent before the held request has reached the node: wait until it is applied.
          await eventually(`${cut.moving} moving, ${cut.imported} imported`, async () => {
            const moving = (await listMoving(source as Client)).length;
            return moving === cut.moving && (await tubeCounts(dest as Client)).buried === cut.imported;
          });
        } finally {
          child.kill('SIGKILL');
        }
      });
    });
    const first = await run;
    assert.equal(first.signal, 'SIGKILL', `the gate held a request and migrate was killed: ${first.out}`);
    await killed;
    await gate.close();
    // The next run, straight to the nodes, finishes the batch and moves the rest.
    writeFileSync(file, topology(ports));
    const second = await migrateOnce(file);
    assert.equal(second.status, 0, second.out);
    assert.equal((second.out.match(/"event":"resumed"/g) ?? []).length, cut.moving, second.out);
    assert.deepEqual(await listMoving(source as Client), [], 'no job left moving');
    assert.deepEqual(await tubeCounts(source as Client), { buried: 0, delayed: 0, ready: 0 });
    await checkDestination(dest as Client);
  } finally {
    await gate.close().catch(() => undefined);
    await Promise.all([source, dest].map((c) => c?.close()));
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('move batch: killed while its x-move-outs are going out — the jobs hidden so far are finished, the rest moved', () =>
  killMidBatch({ word: 'x-move-out', on: 'source', pass: 30, moving: 30, imported: 0 }));

test('move batch: killed with part of a batch imported — 0 lost, 0 duplicated, buried order kept', () =>
  killMidBatch({
    word: 'x-import',
    on: 'dest',
    pass: MOVE_BATCH_JOBS + 36,
    moving: MOVE_BATCH_JOBS,
    imported: MOVE_BATCH_JOBS + 36,
  }));

test('move batch: killed with a batch imported and part of it deleted at the source — no second copy', () =>
  killMidBatch({
    word: 'x-move-done',
    on: 'source',
    pass: 20,
    moving: MOVE_BATCH_JOBS - 20,
    imported: MOVE_BATCH_JOBS,
  }));
