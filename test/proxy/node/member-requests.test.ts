/**
 * `x-role` and `x-promote` on a connection of their own (src/proxy/node/member-requests.ts), the
 * proxy's failover and `stalkd failover` use them, against real `stalkd node` members started with
 * --shard-token: the promotion goes out after `x-auth`, whose answer is a bare `OK` — which the
 * reply parser once took for a malformed `OK <bytes>`, so with a token (deploy/k8s/replicated,
 * deploy/docker-compose.replicated.yml) no proxy could fail a shard over ("no answer").
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { askMemberRole, promoteMember } from '../../../src/proxy/node/member-requests';
import { makeShard, type ShardMember, untilRole } from '../../support/shard';

const TOKEN = 'member-requests-token';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('member requests: with --shard-token, x-promote goes after x-auth and promotes; without the token it is refused', async () => {
  const shard = await makeShard(3, ['--shard-token', TOKEN]);
  cleanups.push(() => shard.stopAll());
  await Promise.all(shard.members.map((_, i) => shard.start(i)));
  const [first, second] = shard.members as [ShardMember, ShardMember];
  await untilRole(first.port, { role: 'primary', 'in-sync-standbys': '2' });
  const member = { host: '127.0.0.1', port: second.port };
  const before = await askMemberRole(member, 2000);
  assert.deepEqual([before?.role, before?.term, before?.inSync], ['standby', 1, true]);

  await shard.kill(0);
  assert.equal(await promoteMember(member, 2, false, undefined, 5000), 'UNAUTHORIZED');
  assert.equal(await promoteMember(member, 2, false, 'not-the-token', 5000), 'UNAUTHORIZED');
  assert.match((await promoteMember(member, 2, false, TOKEN, 5000)) ?? 'no answer', /^PROMOTED 2 \d+$/);
  const now = await askMemberRole(member, 2000);
  assert.deepEqual([now?.role, now?.term], ['primary', 2]);
});
