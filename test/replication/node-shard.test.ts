/**
 * `stalkd node --shard-peers`, real processes (docs/replication.md): every acknowledged put is on
 * the standby when its reply arrives (the primary is killed right after it); a standby answers reads
 * from its copy and NOT_PRIMARY to every change; x-promote's refusals and its success; an old
 * primary that returns follows the new one and drops the tail nobody confirmed; terms never go back.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freePort, httpGet } from '../support/cli-process';
import { MiniClient } from '../support/mini-client';
import { pollUntil } from '../support/prometheus';
import { compareSegments } from '../support/replication-pair';
import { ask, makeShard, role, type Shard, untilRole } from '../support/shard';

const shards: Shard[] = [];
after(async () => {
  for (const s of shards) await s.stopAll();
});

async function shardOf(n: number, flags: readonly string[] = []): Promise<Shard> {
  const shard = await makeShard(n, flags);
  shards.push(shard);
  await Promise.all(shard.members.map((_, i) => shard.start(i)));
  const p = shard.members[0]?.port as number;
  await untilRole(p, { role: 'primary', 'in-sync-standbys': String(n - 1) });
  return shard;
}

function port(shard: Shard, i: number): number {
  return shard.members[i]?.port as number;
}

describe('stalkd node --shard-peers', () => {
  test('every acknowledged put is on the standby when its reply arrives (kill -9 right after)', async () => {
    const shard = await shardOf(2, ['-f', '50']);
    const clients = await Promise.all([0, 1, 2, 3].map(() => MiniClient.connect(port(shard, 0))));
    const acked: number[] = [];
    const primary = shard.members[0]?.process;
    let killed = false;
    for (let i = 0; i < 400; i++) {
      const c = clients[i % clients.length] as MiniClient;
      void c.put(`job ${i}`).then((r) => {
        if (killed) return;
        const m = /^INSERTED (\d+)$/.exec(r.line);
        assert.ok(m, r.line);
        acked.push(Number(m[1]));
        if (acked.length === 250) {
          killed = true;
          primary?.child.kill('SIGKILL');
        }
      });
    }
    await primary?.exited;
    for (const c of clients) c.close();
    assert.equal(acked.length, 250);
    const reader = await MiniClient.connect(port(shard, 1));
    for (const id of acked) assert.match((await reader.send(`peek ${id}`)).line, /^FOUND /, `job ${id}`);
    reader.close();
  });

  test('a standby answers reads from its copy and NOT_PRIMARY to every change', async () => {
    const shard = await shardOf(2, ['--shard-token', 's3cret']);
    const c = await MiniClient.connect(port(shard, 0));
    await c.send('use emails');
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(Number((await c.put(`mail ${i}`, 7)).line.split(' ')[1]));
    await c.send('watch emails');
    const reserved = await c.send('reserve-with-timeout 0');
    assert.equal((await c.send(`bury ${reserved.line.split(' ')[1]} 9`)).line, 'BURIED');
    const last = (await role(port(shard, 0))).get('last-lsn') as string;
    c.close();
    const s = port(shard, 1);
    await untilRole(s, { role: 'standby', 'last-lsn': last });
    assert.equal(await ask(s, `peek ${ids[1]}`), `FOUND ${ids[1]} 6\nmail 1`);
    assert.match(await ask(s, `stats-job ${ids[0]}`), /state: buried/);
    assert.match(await ask(s, 'stats-tube emails'), /current-jobs-ready: 4\n(.*\n)*current-jobs-buried: 1/);
    assert.match(await ask(s, 'list-tubes'), /- emails/);
    const r = await MiniClient.connect(s);
    assert.equal((await r.send('use emails')).line, 'USING emails');
    for (const line of [
      'reserve-with-timeout 0',
      `delete ${ids[1]}`,
      `release ${ids[1]} 1 0`,
      `bury ${ids[1]} 1`,
      `touch ${ids[1]}`,
      'kick 10',
      `kick-job ${ids[0]}`,
      'pause-tube emails 10',
      `x-unreserve ${ids[1]}`,
      'x-reserve-wait 0 0',
    ])
      assert.equal((await r.send(line)).line, 'NOT_PRIMARY', line);
    assert.equal((await r.put('refused')).line, 'NOT_PRIMARY');
    // The connection stays in sync after the refusals.
    assert.match((await r.send(`peek ${ids[2]}`)).line, /^FOUND /);
    assert.equal((await r.send('x-promote 9')).line, 'UNAUTHORIZED');
    assert.equal((await r.send('x-fence 9 1 1 0123456789abcdef')).line, 'UNAUTHORIZED');
    assert.equal((await r.send('x-auth wrong')).line, 'UNAUTHORIZED');
    assert.equal((await r.send('x-auth s3cret')).line, 'OK');
    assert.equal((await r.send('x-fence 1 1 1 0123456789abcdef')).line, 'TERM_NOT_HIGHER 1 standby');
    r.close();
  });

  test('x-promote: NOT_STANDBY, TERM_NOT_HIGHER, NOT_IN_SYNC, then PROMOTED; the old primary follows', async () => {
    const shard = await shardOf(2);
    const [p, s] = [port(shard, 0), port(shard, 1)];
    assert.equal(await ask(p, 'x-promote 5'), 'NOT_STANDBY');
    assert.equal(await ask(s, 'x-promote 1'), 'TERM_NOT_HIGHER 1');
    assert.match(await ask(p, 'put 0 0 60 5', 'first'), /^INSERTED /);
    await untilRole(s, { 'in-sync': 'true' });
    // A standby that restarts while its primary is down has not been told it is in sync.
    await shard.kill(0);
    await shard.kill(1);
    await shard.start(1);
    assert.equal(await ask(s, 'x-promote 2'), 'NOT_IN_SYNC');
    const lastLsn = Number((await role(s)).get('last-lsn'));
    assert.equal(await ask(s, 'x-promote 2 force'), `PROMOTED 2 ${lastLsn + 1}`);
    assert.equal(await ask(s, 'x-promote 3'), 'NOT_STANDBY');
    await shard.start(0);
    await untilRole(p, { role: 'standby', primary: `127.0.0.1:${s}`, term: '2' });
    await untilRole(s, { role: 'primary', 'in-sync-standbys': '1' });
    // An in-sync standby is promoted without force once its primary is gone.
    await untilRole(p, { 'in-sync': 'true' });
    await shard.kill(1);
    const at = Number((await role(p)).get('last-lsn'));
    assert.equal(await ask(p, 'x-promote 3'), `PROMOTED 3 ${at + 1}`);
    assert.match(await ask(p, 'stats'), /current-jobs-ready: 1/);
  });

  test('a returning old primary drops the tail nobody confirmed and follows; terms never go back', async () => {
    const shard = await shardOf(2);
    const [p, s] = [port(shard, 0), port(shard, 1)];
    // Enough live jobs that compaction keeps the first term's segment (the handshake then truncates).
    const first = await MiniClient.connect(p);
    for (let i = 0; i < 49; i++) await first.put(`confirmed ${i}`);
    first.close();
    const confirmed = (await ask(p, 'put 0 0 60 9', 'confirmed')).split(' ')[1];
    const terms: number[][] = [[1, 1]];
    await untilRole(s, { 'in-sync': 'true' });
    await shard.kill(1);
    // Without its standby the primary logs these puts but can confirm none of them.
    const c = await MiniClient.connect(p);
    for (let i = 0; i < 20; i++) void c.put(`unconfirmed ${i}`);
    await pollUntil(
      'an unconfirmed tail of 20 puts',
      async () => {
        const r = await role(p);
        return Number(r.get('last-lsn')) >= Number(r.get('confirmed-lsn')) + 20 ? true : undefined;
      },
      10_000,
      20,
    );
    await shard.kill(0);
    c.close();
    await shard.start(1);
    assert.match(await ask(s, 'x-promote 2 force'), /^PROMOTED 2 /);
    await shard.start(0);
    await untilRole(p, { role: 'standby', primary: `127.0.0.1:${s}`, 'in-sync': 'true' });
    assert.match(shard.members[0]?.process?.stderr() ?? '', /never confirmed\): dropped/);
    assert.equal(
      await ask(p, 'stats-tube default').then((t) => /current-jobs-ready: (\d+)/.exec(t)?.[1]),
      '50',
    );
    assert.match(await ask(p, `peek ${confirmed}`), /^FOUND .*\nconfirmed$/);
    terms.push([Number((await role(p)).get('term')), Number((await role(s)).get('term'))]);
    // The whole shard restarted: the new primary resumes at a higher term, never a lower one.
    await shard.kill(0);
    await shard.kill(1);
    await Promise.all([shard.start(0), shard.start(1)]);
    await untilRole(s, { role: 'primary', 'in-sync-standbys': '1' });
    terms.push([Number((await role(p)).get('term')), Number((await role(s)).get('term'))]);
    assert.deepEqual(terms, [
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    assert.equal(await ask(s, 'x-fence 2 2 5 0123456789abcdef'), 'TERM_NOT_HIGHER 3 primary');
    assert.match(await ask(s, 'put 0 0 60 5', 'after'), /^INSERTED /);
    await untilRole(p, { 'last-lsn': (await role(s)).get('last-lsn') as string });
    await shard.stopAll();
    assert.ok(compareSegments(shard.members[1]?.dir as string, shard.members[0]?.dir as string) >= 1);
  });

  test('metrics: role, term, in-sync standbys and lag on each member', async () => {
    const shard = await makeShard(2);
    shards.push(shard);
    const metricsPorts = [await freePort(), await freePort()];
    await Promise.all([0, 1].map((i) => shard.start(i, ['--metrics-port', String(metricsPorts[i])])));
    await untilRole(port(shard, 0), { role: 'primary', 'in-sync-standbys': '1' });
    assert.match(await ask(port(shard, 0), 'put 0 0 60 1', 'x'), /^INSERTED /);
    await untilRole(port(shard, 1), { 'in-sync': 'true' });
    const scrape = async (i: number): Promise<string> =>
      (await httpGet(metricsPorts[i] as number, '/metrics')).body;
    const primary = await scrape(0);
    for (const line of [
      'stalkd_replication_role{role="primary"} 1',
      'stalkd_replication_role{role="standby"} 0',
      'stalkd_replication_term 1',
      'stalkd_replication_sync_standbys 1',
      'stalkd_replication_in_sync_standbys 1',
      'stalkd_replication_waiting 0',
      'stalkd_replication_alone 0',
      'stalkd_replication_full_copies_total{side="sent"} 1',
    ])
      assert.ok(primary.includes(line), `primary: ${line}`);
    assert.match(
      primary,
      new RegExp(`stalkd_replication_lag_records\\{standby="127.0.0.1:${port(shard, 1)}"\\} 0`),
    );
    const standby = await scrape(1);
    for (const line of [
      'stalkd_replication_role{role="standby"} 1',
      'stalkd_replication_standby_in_sync 1',
      'stalkd_replication_full_copies_total{side="received"} 1',
      'stalkd_replication_lag_records{standby="self"} 0',
    ])
      assert.ok(standby.includes(line), `standby: ${line}`);
    // A standby fsyncs its own log: the binlog families count it as on the primary.
    await pollUntil(
      "the standby's fsyncs in stalkd_binlog_fsync_duration_seconds",
      async () =>
        /^stalkd_binlog_fsync_duration_seconds_count [1-9]/m.test(await scrape(1)) ? true : undefined,
      10_000,
      50,
    );
    assert.match(await scrape(1), /^stalkd_binlog_records_written_total [1-9]/m);
    await shard.kill(1);
    await pollUntil(
      'the primary waits for its standby',
      async () => ((await scrape(0)).includes('stalkd_replication_waiting 1') ? true : undefined),
      10_000,
      50,
    );
  });
});

describe('stalkd node --shard-peers: reply order', () => {
  test('pipelined puts on 8 connections: each connection gets its INSERTED replies in order', async () => {
    const shard = await shardOf(2, ['-f', '50']);
    const clients = await Promise.all(Array.from({ length: 8 }, () => MiniClient.connect(port(shard, 0))));
    // Acknowledgements arrive between reads while the turn's records are not yet written: releasing
    // the replies they cover must not let later replies overtake the one being written.
    const disorder: string[] = [];
    await Promise.all(
      clients.map(async (c, n) => {
        let last = 0;
        for (let round = 0; round < 12; round++) {
          const replies = await Promise.all(
            Array.from({ length: 256 }, (_, i) => c.put(`c${n} r${round} ${i}`)),
          );
          for (const r of replies) {
            const id = Number(/^INSERTED (\d+)$/.exec(r.line)?.[1]);
            if (!(id > last)) disorder.push(`conn ${n}: ${r.line} after ${last}`);
            last = id;
          }
        }
        c.close();
      }),
    );
    assert.deepEqual(disorder.slice(0, 5), []);
  });
});

describe('stalkd node --shard-peers: reply order of a cancelled wait', () => {
  test('x-reserve-wait then x-cancel, pipelined while puts stream in: the RESERVED never comes after the cancel’s reply', async () => {
    // The proxy's reserve across shards sends x-cancel to a node whose wait it still thinks is
    // waiting; the node may have just given that wait a job whose put is not yet confirmed, so the
    // RESERVED is held back and the cancel's NOT_WAITING queues behind it. Were they to swap, the
    // proxy would read NOT_WAITING as the wait's answer and the RESERVED as the cancel's, and
    // leave the job reserved on the client's node connection until its TTR (issue 17's lost
    // delivery, from the reordering fixed in b31a58c).
    const shard = await shardOf(2, ['-f', '50']);
    const producers = await Promise.all([0, 1, 2, 3].map(() => MiniClient.connect(port(shard, 0))));
    const workers = await Promise.all([0, 1, 2, 3].map(() => MiniClient.connect(port(shard, 0))));
    let producing = true;
    const puts = producers.map(async (c, n) => {
      for (let round = 0; producing && round < 200; round++)
        await Promise.all(Array.from({ length: 64 }, (_, i) => c.put(`p${n} r${round} ${i}`)));
    });
    const disorder: string[] = [];
    let reserved = 0;
    await Promise.all(
      workers.map(async (c, n) => {
        for (let round = 0; round < 30; round++) {
          const pairs = Array.from({ length: 128 }, () =>
            Promise.all([c.send('x-reserve-wait 0 8'), c.send('x-cancel')]),
          );
          for (const [wait, cancel] of await Promise.all(pairs)) {
            if (wait.line.startsWith('RESERVED ')) reserved++;
            if (!/^(RESERVED \d+ \d+ \d+ \d+|TIMED_OUT)$/.test(wait.line) || cancel.line !== 'NOT_WAITING')
              disorder.push(`worker ${n}: wait got "${wait.line}", cancel got "${cancel.line}"`);
          }
        }
      }),
    );
    producing = false;
    await Promise.all(puts);
    for (const c of [...producers, ...workers]) c.close();
    assert.ok(reserved > 0, 'the waits took jobs');
    assert.deepEqual(disorder.slice(0, 5), []);
  });
});
