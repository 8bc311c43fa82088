/**
 * Recovery of `stalkd node --shard-peers` members, real processes under continuous load
 * (docs/replication.md): a standby killed with SIGKILL catches up from where it stopped; a wiped
 * standby takes a full copy while the primary keeps serving, its memory bounded by the sender's
 * buffers, not the log; a standby with another shard's data is refused and left untouched;
 * --standby-timeout-ms goes on alone and comes back.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, httpGet } from '../support/cli-process';
import { parseExposition, sampleValue } from '../support/exposition';
import { MiniClient } from '../support/mini-client';
import { startNode } from '../support/node-process';
import { pollUntil } from '../support/prometheus';
import { compareSegments } from '../support/replication-pair';
import { ask, makeShard, role, type Shard, untilRole } from '../support/shard';
import { ShardLoad } from '../support/shard-load';

const shards: Shard[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const s of shards) await s.stopAll();
  for (const c of cleanups) await c();
});

function port(shard: Shard, i: number): number {
  return shard.members[i]?.port as number;
}

async function scrape(metricsPort: number): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition((await httpGet(metricsPort, '/metrics')).body);
}

/** Waits until member i's log ends where the primary's does (load stopped). */
async function untilCaughtUp(shard: Shard, i: number): Promise<void> {
  const last = (await role(port(shard, 0))).get('last-lsn') as string;
  await untilRole(port(shard, i), { 'last-lsn': last, 'in-sync': 'true' });
}

/** The standby holds exactly the ledger's jobs, and the same counts as the primary. */
async function assertSameJobs(load: ShardLoad, primary: number, standby: number): Promise<void> {
  const c = await MiniClient.connect(standby);
  try {
    for (const [id, body] of load.live) {
      const r = await c.send(`peek ${id}`);
      assert.equal(`${r.line}\n${r.body?.toString()}`, `FOUND ${id} ${body.length}\n${body}`);
    }
    for (const id of load.deleted) assert.equal((await c.send(`peek ${id}`)).line, 'NOT_FOUND', `job ${id}`);
  } finally {
    c.close();
  }
  const counts = (text: string): string =>
    [...text.matchAll(/^current-jobs-\w+: \d+$/gm)].map((m) => m[0]).join(', ');
  assert.equal(
    counts(await ask(standby, 'stats-tube default')),
    counts(await ask(primary, 'stats-tube default')),
  );
}

/** VmRSS of a process, bytes. */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

function dirDigest(dir: string): string {
  const h = createHash('sha256');
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile() || name === 'stalkd.lock') continue;
    h.update(name).update(fs.readFileSync(file));
  }
  return h.digest('hex');
}

describe('stalkd node --shard-peers: recovery under load', () => {
  test('a standby killed with SIGKILL under load catches up from where it stopped', async (t) => {
    const shard = await makeShard(3, ['-f', '50']);
    shards.push(shard);
    const metrics = await freePort();
    await Promise.all([shard.start(0), shard.start(1), shard.start(2)]);
    await untilRole(port(shard, 0), { role: 'primary', 'in-sync-standbys': '2' });
    const load = await ShardLoad.start(port(shard, 0));
    await load.more(300);
    await shard.kill(2);
    // The load goes on (the other standby confirms) while this one is down.
    await load.more(300);
    const restarted = await shard.start(2, ['--metrics-port', String(metrics)]);
    await untilRole(port(shard, 2), { role: 'standby', 'in-sync': 'true' });
    await load.more(300);
    await load.stop();
    await untilCaughtUp(shard, 2);
    const samples = await scrape(metrics);
    assert.equal(sampleValue(samples, 'stalkd_replication_catchups_total', { side: 'received' }), 1);
    assert.equal(sampleValue(samples, 'stalkd_replication_full_copies_total', { side: 'received' }), 0);
    assert.match(restarted.stderr(), /following 127\.0\.0\.1:\d+ at term 1 \(from LSN [1-9]\d*\)/);
    await assertSameJobs(load, port(shard, 0), port(shard, 2));
    t.diagnostic(`${load.live.size} live and ${load.deleted.size} deleted jobs in the ledger`);
    await shard.stopAll();
    assert.ok(compareSegments(shard.members[0]?.dir as string, shard.members[2]?.dir as string) >= 1);
  });

  test('a wiped standby takes a full copy of a large log; the primary keeps serving, its memory bounded', async (t) => {
    // Segments of 16 MiB so the copy crosses several of them.
    const shard = await makeShard(3, ['-f', '50', '-s', String(16 << 20)]);
    shards.push(shard);
    await Promise.all([shard.start(0), shard.start(1), shard.start(2)]);
    const p = port(shard, 0);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '2' });
    // A log of ~128 MiB of live jobs: 2200 puts of 60 KiB, pipelined on 4 connections.
    const body = 'b'.repeat(60 * 1024);
    const writers = await Promise.all([0, 1, 2, 3].map(() => MiniClient.connect(p)));
    await Promise.all(
      Array.from({ length: 2200 }, (_, i) =>
        (writers[i % 4] as MiniClient).put(body).then((r) => assert.match(r.line, /^INSERTED /)),
      ),
    );
    for (const w of writers) w.close();
    const logBytes = fs
      .readdirSync(shard.members[0]?.dir as string)
      .filter((n) => n.endsWith('.stalkd'))
      .reduce((sum, n) => sum + fs.statSync(path.join(shard.members[0]?.dir as string, n)).size, 0);
    const load = await ShardLoad.start(p, 8);
    await load.more(500);
    await shard.kill(2);
    fs.rmSync(shard.members[2]?.dir as string, { recursive: true, force: true });
    const before = performance.now();
    await load.more(1000);
    const beforeRate = load.rate(before, performance.now());
    const pid = shard.members[0]?.process?.pid as number;
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(pid));
    }, 10);
    const copyStart = performance.now();
    await shard.start(2);
    await untilRole(port(shard, 2), { role: 'standby', 'in-sync': 'true' }, 120_000);
    const copyEnd = performance.now();
    clearInterval(sampler);
    const duringRate = load.rate(copyStart, copyEnd);
    await load.stop();
    await untilCaughtUp(shard, 2);
    assert.match(shard.members[2]?.process?.stderr() ?? '', /full copy from 127\.0\.0\.1/);
    await assertSameJobs(load, p, port(shard, 2));
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    t.diagnostic(
      `log ${mib(logBytes)} MiB copied in ${(copyEnd - copyStart).toFixed(0)} ms; ` +
        `primary ${beforeRate.toFixed(0)} acks/s before, ${duringRate.toFixed(0)} during; ` +
        `RSS ${mib(rssBefore)} MiB → peak ${mib(rssPeak)} MiB; ` +
        `longest pause ${load.longestGap(copyStart, copyEnd).toFixed(0)} ms`,
    );
    assert.ok(logBytes > 120 * 2 ** 20, `log of ${logBytes} bytes`);
    // The sender holds at most its socket's high-water mark (4 MiB) and one 256 KiB chunk; the rest
    // of the bound is the load's own garbage. Far below the log's size.
    assert.ok(rssPeak - rssBefore < 40 * 2 ** 20, `RSS grew by ${mib(rssPeak - rssBefore)} MiB`);
    // No stop-the-world: acknowledgements kept coming all through the copy (the rate itself depends on
    // how much of the 2 shared cores the copy's reading, sending and applying take: reported above).
    const gap = load.longestGap(copyStart, copyEnd);
    assert.ok(duringRate > 0 && gap < 2000, `longest pause in acknowledgements during the copy: ${gap} ms`);
  });

  test("WRONG_SHARD: a standby holding another shard's data is refused and not overwritten", async () => {
    const ours = await makeShard(2);
    const theirs = await makeShard(2);
    shards.push(ours, theirs);
    await Promise.all([ours.start(0), ours.start(1), theirs.start(0), theirs.start(1)]);
    await untilRole(port(ours, 0), { role: 'primary', 'in-sync-standbys': '1' });
    await untilRole(port(theirs, 0), { role: 'primary', 'in-sync-standbys': '1' });
    const id = (await ask(port(theirs, 0), 'put 0 0 60 6', 'theirs')).split(' ')[1];
    await untilCaughtUp(theirs, 1);
    const theirShard = (await role(port(theirs, 1))).get('shard') as string;
    const ourShard = (await role(port(ours, 0))).get('shard') as string;
    assert.notEqual(theirShard, ourShard);
    await theirs.stopAll();
    const dir = theirs.members[1]?.dir as string;
    const digest = dirDigest(dir);
    // Their standby restarted with our primary as its only peer (a misconfigured peer list).
    const stray = await startNode(dir, ['--shard-peers', `127.0.0.1:${port(ours, 0)}`, '--standby']);
    cleanups.push(() => stray.kill());
    await pollUntil(
      'the stray standby is refused',
      async () => (/refused to stream: WRONG_SHARD/.test(stray.stderr()) ? true : undefined),
      10_000,
      20,
    );
    const r = await role(stray.port);
    assert.deepEqual([r.get('role'), r.get('primary'), r.get('shard')], ['standby', '', theirShard]);
    assert.equal(await ask(stray.port, `peek ${id}`), `FOUND ${id} 6\ntheirs`);
    assert.equal((await role(port(ours, 0))).get('standbys'), '1');
    await stray.kill();
    assert.equal(dirDigest(dir), digest);
  });

  test('--standby-timeout-ms: the primary confirms alone once its standby is gone, then syncs again', async () => {
    const shard = await makeShard(2, ['--standby-timeout-ms', '300']);
    shards.push(shard);
    const metrics = await freePort();
    await Promise.all([shard.start(0, ['--metrics-port', String(metrics)]), shard.start(1)]);
    const p = port(shard, 0);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '1', 'in-sync': 'true' });
    assert.match(await ask(p, 'put 0 0 60 6', 'synced'), /^INSERTED /);
    const killedAt = performance.now();
    await shard.kill(1);
    const stderr = (): string => shard.members[0]?.process?.stderr() ?? '';
    const c = await MiniClient.connect(p);
    const reply = await c.put('alone');
    // Held until the timeout ran out (it cannot start before the standby was killed), then confirmed.
    assert.ok(
      performance.now() - killedAt >= 300,
      `confirmed ${performance.now() - killedAt} ms after the kill`,
    );
    assert.match(reply.line, /^INSERTED /);
    await pollUntil(
      'the primary says it goes on alone',
      async () =>
        /only 0 of 1 standbys in sync for 300 ms: going on ALONE/.test(stderr()) ? true : undefined,
      5000,
      20,
    );
    const aloneId = reply.line.split(' ')[1];
    const r = await role(p);
    assert.deepEqual([r.get('in-sync'), r.get('in-sync-standbys')], ['false', '0']);
    const samples = await scrape(metrics);
    assert.equal(sampleValue(samples, 'stalkd_replication_alone'), 1);
    assert.equal(sampleValue(samples, 'stalkd_replication_waiting'), 0);
    // More puts are confirmed at once while alone.
    for (let i = 0; i < 5; i++) assert.match((await c.put(`alone ${i}`)).line, /^INSERTED /);
    await shard.start(1);
    await untilRole(p, { 'in-sync': 'true', 'in-sync-standbys': '1' });
    assert.match(stderr(), /1 standbys in sync again: confirmations wait for 1/);
    assert.equal(sampleValue(await scrape(metrics), 'stalkd_replication_alone'), 0);
    assert.match(await ask(port(shard, 1), `peek ${aloneId}`), /^FOUND .*\nalone$/);
    assert.match((await c.put('synced again')).line, /^INSERTED /);
    c.close();
  });
});
