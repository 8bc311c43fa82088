/**
 * `stalkd binlog verify|dump` against binlogs written by a real node: the running node's own
 * directory (nothing changed), a copy taken file by file while puts go on (the backup procedure of
 * docs/operations.md, restored into a new node), a corrupt record (damage, exit 1), a torn tail at
 * the end (a note, exit 0) and a missing directory (exit 2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Client } from '../../src/client';
import { copyLiveFile, tempDir } from '../support/binlog-fixtures';
import { CLI_PATH } from '../support/cli-process';
import { startNode } from '../support/node-process';

/** Segment files (src/binlog/segment.ts); zero-padded, so name order is index order. */
const SEGMENT = /^seg-\d{10}\.stalkd$/;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function fingerprint(dir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    hash.update(name);
    if (name.endsWith('.lock')) continue;
    hash.update(readFileSync(join(dir, name)));
  }
  return hash.digest('hex');
}

interface DumpedJob {
  id: number;
  tube: string;
  pri: number;
  state: string;
  ttrMs: number;
  body: string;
  encoding: 'utf8' | 'base64';
}

function dumpJson(dir: string): DumpedJob[] {
  const r = cli('binlog', 'dump', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DumpedJob);
}

/** Jobs in every state: ready (text and binary), delayed, buried, reserved, and one deleted. */
interface Filled {
  text: number;
  binary: number;
  delayed: number;
  buried: number;
  held: number;
  gone: number;
}

async function fill(c: Client): Promise<Filled> {
  await c.use('emails');
  const text = await c.put('hello', { pri: 10, ttrSecs: 30 });
  const binary = await c.put(Buffer.from([0, 0xff, 13, 10, 0x1b]));
  const delayed = await c.put('later', { delaySecs: 3600 });
  await c.use('reports');
  const buried = await c.put('bad');
  const held = await c.put('held');
  const gone = await c.put('gone');
  await c.watch('reports');
  await c.ignore('default');
  for (const id of [buried, held, gone]) {
    const job = await c.reserveJob(id);
    assert.notEqual(job, 'NOT_FOUND');
  }
  await c.bury(buried, 7);
  await c.delete(gone);
  return { text, binary, delayed, buried, held, gone };
}

test("binlog verify and dump: a running node's directory, read as its restart would, unchanged", async () => {
  const dir = tempDir();
  const node = await startNode(dir, ['-f', '0']);
  const c = await node.client();
  try {
    const ids = await fill(c);
    const before = fingerprint(dir);
    const verify = cli('binlog', 'verify', dir);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(
      verify.stdout,
      /jobs {7}5 as a node would restore them: 3 ready, 1 delayed, 1 buried; 2 tubes/,
    );
    const next = Number(/hands out (\d+) and up/.exec(verify.stdout)?.[1]);
    assert.ok(next > ids.gone, `next id ${next} above every id handed out (${ids.gone})`);
    assert.match(verify.stdout, /\nok\n$/);
    const jobs = dumpJson(dir);
    assert.equal(fingerprint(dir), before, 'verify and dump change nothing');
    const byId = new Map(jobs.map((j) => [j.id, j]));
    assert.deepEqual(
      [...byId.keys()].sort((a, b) => a - b),
      [ids.text, ids.binary, ids.delayed, ids.buried, ids.held],
    );
    assert.deepEqual(
      [
        byId.get(ids.text)?.tube,
        byId.get(ids.text)?.pri,
        byId.get(ids.text)?.ttrMs,
        byId.get(ids.text)?.body,
      ],
      ['emails', 10, 30_000, 'hello'],
    );
    const bin = byId.get(ids.binary);
    assert.deepEqual(
      [bin?.encoding, Buffer.from(bin?.body ?? '', 'base64')],
      ['base64', Buffer.from([0, 0xff, 13, 10, 0x1b])],
    );
    assert.equal(byId.get(ids.delayed)?.state, 'delayed');
    assert.equal(byId.get(ids.buried)?.state, 'buried');
    assert.equal(byId.get(ids.buried)?.pri, 7);
    assert.equal(byId.get(ids.held)?.state, 'ready', 'a reserved job is restored ready');
    const human = cli('binlog', 'dump', dir);
    assert.equal(human.status, 0);
    assert.match(
      human.stdout,
      new RegExp(`^job ${ids.binary} · 5 bytes · binary \\(hex\\) · tube emails`, 'm'),
    );
    assert.ok(!human.stdout.includes('\u001b'), 'no raw control characters reach a terminal');
  } finally {
    await c.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('binlog: a copy taken segment by segment under load verifies and restores every job acknowledged before it', async () => {
  const dir = tempDir();
  const copy = tempDir('stalkd-backup-');
  // Small segments, so the copy spans several files while rotation and compaction run.
  const node = await startNode(dir, ['-f', '0', '-s', '65536']);
  const c = await node.client();
  const acknowledged: number[] = [];
  try {
    await c.use('load');
    const body = 'x'.repeat(500);
    for (let i = 0; i < 300; i++) acknowledged.push(await c.put(body));
    // Puts keep coming while the copy is taken, as in a backup of a busy node.
    let writing = true;
    const writer = (async () => {
      while (writing) await c.put(body);
    })();
    // The procedure: list, then copy in index order, newest last (docs/operations.md).
    const names = readdirSync(dir)
      .filter((n) => SEGMENT.test(n))
      .sort();
    assert.ok(names.length >= 3, `several segments: ${names}`);
    for (const name of names) {
      try {
        copyLiveFile(join(dir, name), join(copy, name));
      } catch (err) {
        // Compaction removed an old segment after the listing: its jobs live on in newer ones.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    writing = false;
    await writer;
    const verify = cli('binlog', 'verify', copy);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const restored = await startNode(copy);
    const rc = await restored.client();
    try {
      for (const id of acknowledged) assert.ok(await rc.peek(id), `job ${id} acknowledged before the copy`);
    } finally {
      await rc.close();
      await restored.stop();
    }
  } finally {
    await c.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(copy, { recursive: true, force: true });
  }
});

test('binlog verify: a corrupt record is damage (exit 1); a torn tail at the very end is a note (exit 0)', async () => {
  const dir = tempDir();
  const node = await startNode(dir, ['-f', '0']);
  const c = await node.client();
  try {
    await c.use('t');
    for (let i = 0; i < 20; i++) await c.put(`job number ${i} with a recognisable body`);
  } finally {
    await c.close();
    await node.stop();
  }
  try {
    const segments = readdirSync(dir).filter((n) => SEGMENT.test(n));
    assert.equal(segments.length, 1);
    const segment = segments[0] as string;
    const path = join(dir, segment);
    const original = readFileSync(path);
    const at = original.indexOf('job number 7');
    assert.ok(at > 0);

    const corrupt = Buffer.from(original);
    corrupt[at] = 'J'.charCodeAt(0);
    writeFileSync(path, corrupt);
    const damaged = cli('binlog', 'verify', dir);
    assert.equal(damaged.status, 1, damaged.stdout);
    assert.match(damaged.stdout, /DAMAGE {5}CORRUPT record in \S+ at offset \d+/);
    assert.match(damaged.stdout, /jobs {7}19 as a node would restore them/, 'the other jobs are intact');
    assert.equal(readFileSync(path).equals(corrupt), true, 'verify repairs nothing');

    const end = original.indexOf('job number 19') + 'job number 19'.length;
    const torn = Buffer.from(original);
    torn.fill(0, end - 5, end);
    torn.fill(0, end);
    writeFileSync(path, torn.subarray(0, end));
    const tail = cli('binlog', 'verify', dir);
    assert.equal(tail.status, 0, tail.stdout);
    assert.match(tail.stdout, /note {7}torn tail in /);
    assert.match(tail.stdout, /jobs {7}19 as a node would restore them/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('binlog verify: a directory that cannot be read exits 2 with the reason', () => {
  const dir = tempDir();
  rmSync(dir, { recursive: true });
  const r = cli('binlog', 'verify', join(dir, 'nothing-here'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot read .*nothing-here/);
  mkdirSync(dir);
  rmSync(dir, { recursive: true });
});
