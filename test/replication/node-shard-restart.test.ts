/**
 * A killed primary restarting while a standby is promoted (docs/replication.md, "Terms",
 * "Start-up"), real processes: the restarted member may lead only through the same fence round as
 * x-promote, so a promotion at the term it chose — asked by a proxy that saw the old term — is
 * refused, and no two members are ever primary at one term. The standbys reach member 0 through
 * relays that are cut, so neither can follow the restarted member (and adopt its term) by its own
 * polling before the promotion's fence asks: the race window held open by the test, not by luck.
 * Before the fix the restarted member led at term 2 without asking anyone, and s1's promotion to
 * term 2 fenced s2 and won too.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ask, makeShard, primariesSharingATerm, role, type Shard, untilRole } from '../support/shard';
import { type Relay, startRelay } from '../support/tcp-relay';

const shards: Shard[] = [];
const relays: Relay[] = [];
after(async () => {
  for (const s of shards) await s.stopAll();
  for (const r of relays) await r.cut();
});

test('an old primary restarted during a promotion: one primary per term', async () => {
  const shard = await makeShard(3);
  shards.push(shard);
  const ports = shard.members.map((m) => m.port);
  const [p, s1, s2] = ports as [number, number, number];
  for (const i of [1, 2]) {
    const relay = await startRelay(p);
    relays.push(relay);
    const extra = shard.members[i]?.extra as string[];
    const at = extra.indexOf('--shard-peers') + 1;
    extra[at] = (extra[at] as string).replace(`127.0.0.1:${p}`, `127.0.0.1:${relay.port}`);
  }
  await Promise.all([shard.start(0), shard.start(1), shard.start(2)]);
  await untilRole(p, { role: 'primary', term: '1', 'in-sync-standbys': '2' });
  assert.match(await ask(p, 'put 0 0 60 6', 'before'), /^INSERTED /);
  const lsn = (await role(p)).get('last-lsn') as string;
  await Promise.all([s1, s2].map((s) => untilRole(s, { 'last-lsn': lsn, 'in-sync': 'true' })));
  // A proxy sees the primary die at term 1; it will ask s1 for term 2.
  await shard.kill(0);
  for (const r of relays) await r.cut();
  await Promise.all([s1, s2].map((s) => untilRole(s, { role: 'standby', primary: '' })));
  // The old primary comes back first, and leads at term 2.
  await shard.start(0);
  await untilRole(p, { role: 'primary', term: '2' });
  const promoted = await ask(s1, 'x-promote 2');
  assert.deepEqual(await primariesSharingATerm(ports), []);
  assert.equal(promoted, 'TERM_NOT_HIGHER 2');
  // s1 was fenced at term 2 by the restarted member; a promotion at a higher term still works.
  assert.deepEqual([(await role(s1)).get('role'), (await role(s1)).get('term')], ['standby', '2']);
});
