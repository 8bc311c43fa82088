/**
 * x-promote's fence round in a shard of three (docs/replication.md, "Promotion"), real processes:
 * a standby whose stream ended (its link to the primary cut) still says it is in sync — the
 * default waits forever, so nothing confirmed went past it without a standby — but the other
 * standby went on confirming; promoting the one left behind is refused NOT_MOST_ADVANCED, the
 * more advanced one is promoted and the other follows it with every confirmed job; with no peer
 * to fence, NOT_FENCED; the old primary's own fence counts when the candidate holds its whole log.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MiniClient } from '../support/mini-client';
import { pollUntil } from '../support/prometheus';
import { ask, makeShard, role, type Shard, untilRole } from '../support/shard';
import { type Relay, startRelay } from '../support/tcp-relay';

const shards: Shard[] = [];
const relays: Relay[] = [];
after(async () => {
  for (const s of shards) await s.stopAll();
  for (const r of relays) await r.cut();
});

/** Member `i` reaches member `to` through `relay` instead of directly. */
function throughRelay(shard: Shard, i: number, to: number, relay: Relay): void {
  const extra = shard.members[i]?.extra as string[];
  const at = extra.indexOf('--shard-peers') + 1;
  const direct = `127.0.0.1:${shard.members[to]?.port}`;
  extra[at] = (extra[at] as string).replace(direct, `127.0.0.1:${relay.port}`);
}

describe('x-promote in a shard of three', () => {
  test('a standby left behind is refused NOT_MOST_ADVANCED, the advanced one is promoted; NOT_FENCED', async () => {
    const shard = await makeShard(3);
    shards.push(shard);
    const [p, s1, s2] = shard.members.map((m) => m.port) as [number, number, number];
    const relay = await startRelay(p);
    relays.push(relay);
    throughRelay(shard, 1, 0, relay);
    await Promise.all([shard.start(0), shard.start(1), shard.start(2)]);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '2' });
    const c = await MiniClient.connect(p);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await c.put(`before ${i}`)).line.split(' ')[1] as string);
    const synced = (await role(p)).get('last-lsn') as string;
    await untilRole(s1, { 'last-lsn': synced, 'in-sync': 'true', primary: `127.0.0.1:${relay.port}` });
    await untilRole(s2, { 'last-lsn': synced, 'in-sync': 'true' });
    // s1's link to the primary goes away; s2 goes on confirming alone as the one sync standby.
    await relay.cut();
    await untilRole(p, { standbys: '1', 'in-sync-standbys': '1' });
    for (let i = 0; i < 10; i++) ids.push((await c.put(`after ${i}`)).line.split(' ')[1] as string);
    c.close();
    const ahead = (await role(p)).get('last-lsn') as string;
    await untilRole(s2, { 'last-lsn': ahead });
    // The known risk: with the default (wait forever), s1 still calls itself in sync.
    const behind = await role(s1);
    assert.deepEqual(
      [behind.get('in-sync'), behind.get('primary'), behind.get('last-lsn')],
      ['true', '', synced],
    );
    await shard.kill(0);
    assert.equal(await ask(s1, 'x-promote 2'), `NOT_MOST_ADVANCED 127.0.0.1:${s2}`);
    assert.equal((await role(s1)).get('role'), 'standby');
    // s2 knows term 2 from the fence: it is promoted at 3, and s1 follows it with every job.
    assert.equal(await ask(s2, 'x-promote 2'), 'TERM_NOT_HIGHER 2');
    assert.equal(await ask(s2, 'x-promote 3'), `PROMOTED 3 ${Number(ahead) + 1}`);
    await untilRole(s1, { role: 'standby', primary: `127.0.0.1:${s2}`, 'in-sync': 'true' });
    await untilRole(s1, { 'last-lsn': (await role(s2)).get('last-lsn') as string });
    for (const id of ids) assert.match(await ask(s1, `peek ${id}`), /^FOUND /, `job ${id}`);
    // The new primary gone too, and the old one unreachable: nobody to fence.
    await shard.kill(2);
    assert.equal(await ask(s1, 'x-promote 4'), 'NOT_FENCED 0 1');
    assert.deepEqual([(await role(s1)).get('role'), (await role(s1)).get('term')], ['standby', '4']);
  });
});

describe('the old primary fenced', () => {
  test('answers FENCED primary, and counts for a candidate holding its whole log: one standby dead, the other promoted', async () => {
    const shard = await makeShard(3);
    shards.push(shard);
    const [p, s1] = shard.members.map((m) => m.port) as [number, number, number];
    await Promise.all([shard.start(0), shard.start(1), shard.start(2)]);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '2' });
    const c = await MiniClient.connect(p);
    for (let i = 0; i < 5; i++) assert.match((await c.put(`job ${i}`)).line, /^INSERTED /);
    c.close();
    await untilRole(s1, { 'last-lsn': (await role(p)).get('last-lsn') as string });
    // The other standby dies: the old primary is the only peer left to fence (as when it is cut
    // off from the proxies but not from its peers). Its FENCED reply reaches the candidate before
    // it drops its clients, and counts: the candidate holds everything it confirmed.
    await shard.kill(2);
    assert.match(await ask(s1, 'x-promote 2'), /^PROMOTED 2 \d+$/);
    await untilRole(p, { role: 'standby', primary: `127.0.0.1:${s1}`, 'in-sync': 'true' });
    assert.match(await ask(s1, 'put 0 0 60 5', 'after'), /^INSERTED /);
  });
});

describe('first start of a shard', () => {
  test('two members started on empty logs without --standby: one leads at term 1, the other follows', async () => {
    for (let round = 0; round < 3; round++) {
      const shard = await makeShard(2);
      shards.push(shard);
      const extra = shard.members[1]?.extra as string[];
      extra.splice(extra.indexOf('--standby'), 1);
      await Promise.all([shard.start(0), shard.start(1)]);
      const ports = shard.members.map((m) => m.port);
      const [leader] = await Promise.race(
        ports.map((p, i) => untilRole(p, { role: 'primary', 'in-sync-standbys': '1' }).then(() => [i])),
      );
      const other = ports[1 - (leader as number)] as number;
      const lead = await role(ports[leader as number] as number);
      const follower = await untilRole(other, { role: 'standby', 'in-sync': 'true' });
      assert.equal(lead.get('term'), '1');
      assert.equal(follower.get('primary'), `127.0.0.1:${ports[leader as number]}`);
      // The lower member id won the tie-break.
      assert.ok((lead.get('member') as string) < (follower.get('member') as string));
      assert.match(await ask(ports[leader as number] as number, 'put 0 0 60 2', 'hi'), /^INSERTED /);
      await shard.stopAll();
    }
  });
});

describe('--standby-timeout-ms and promotion', () => {
  test('a standby whose link falls silent stops saying in sync before its primary goes on alone', async () => {
    const shard = await makeShard(2, ['--standby-timeout-ms', '300']);
    shards.push(shard);
    const [p, s] = shard.members.map((m) => m.port) as [number, number];
    const relay = await startRelay(p);
    relays.push(relay);
    throughRelay(shard, 1, 0, relay);
    await Promise.all([shard.start(0), shard.start(1)]);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '1' });
    assert.match(await ask(p, 'put 0 0 60 6', 'synced'), /^INSERTED /);
    await untilRole(s, { 'in-sync': 'true', 'last-lsn': (await role(p)).get('last-lsn') as string });
    // The link stops carrying packets; both ends keep their connection open.
    relay.silence();
    const c = await MiniClient.connect(p);
    assert.match((await c.put('alone')).line, /^INSERTED /);
    c.close();
    await pollUntil(
      'the primary says it went on alone',
      async () => (/going on ALONE/.test(shard.members[0]?.process?.stderr() ?? '') ? true : undefined),
      5000,
      20,
    );
    // The primary confirmed alone: the standby, which lacks that put, must not claim to be in sync.
    const r = await role(s);
    assert.deepEqual([r.get('in-sync'), r.get('primary')], ['false', `127.0.0.1:${relay.port}`]);
    assert.equal(await ask(s, 'x-promote 2'), 'NOT_IN_SYNC');
  });
});
