/**
 * `stalkd failover SHARD` against scripted members: it promotes the most advanced in-sync standby
 * at the highest term + 1; with none in sync it refuses and sends nothing, unless --force, which
 * promotes the most advanced standby with `force` after saying what can be lost.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runFailover } from '../../src/cli/failover';
import { tempDir } from '../support/binlog-fixtures';
import { FakeMember, type FakeRole } from '../support/fake-member';

const started: FakeMember[] = [];
after(async () => {
  for (const m of started) await m.kill().catch(() => {});
});

const standby = (lastLsn: number, inSync: boolean): FakeRole => ({
  role: 'standby',
  term: 4,
  lastTerm: 4,
  lastLsn,
  inSync,
});

async function shardFile(...roles: FakeRole[]): Promise<{ file: string; members: FakeMember[] }> {
  const members = await Promise.all(roles.map((r) => FakeMember.start(r)));
  started.push(...members);
  // The first member of the entry is a dead primary: a port nobody listens on.
  const dead = await FakeMember.start(standby(0, false));
  await dead.kill();
  const file = join(tempDir('failover-cli-'), 'topology.json');
  const replicas = members.map((m) => ({ host: '127.0.0.1', port: m.port }));
  writeFileSync(
    file,
    JSON.stringify({ nodes: [{ name: 'orders', index: 3, host: '127.0.0.1', port: dead.port, replicas }] }),
  );
  return { file, members };
}

async function run(shard: string, file: string, force = false): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runFailover(shard, { topology: file, force, timeoutMs: 500 }, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

test('failover cli: promotes the most advanced in-sync standby at the highest term + 1', async () => {
  const { file, members } = await shardFile(standby(9, true), standby(12, true), standby(30, false));
  const { code, out } = await run('orders', file);
  assert.equal(code, 0, out);
  assert.deepEqual(
    members.map((m) => m.promotes),
    [[], ['x-promote 5'], []],
  );
  assert.match(out, /no answer/);
  assert.match(out, /NOT in sync/);
  assert.match(out, /PROMOTED 5 13/);
});

test('failover cli: no in-sync standby — refused, nothing sent; --force promotes and says what is lost', async () => {
  const { file, members } = await shardFile(standby(7, false), standby(8, false));
  const refused = await run('3', file);
  assert.equal(refused.code, 1);
  assert.match(refused.out, /no standby is in sync.*--force/);
  assert.deepEqual(
    members.map((m) => m.promotes),
    [[], []],
  );
  const forced = await run('3', file, true);
  assert.equal(forced.code, 0, forced.out);
  assert.deepEqual(
    members.map((m) => m.promotes),
    [[], ['x-promote 5 force']],
  );
  assert.match(
    forced.out,
    /WARNING: 127\.0\.0\.1:\d+ is not in sync\. Every change the former primary confirmed after LSN 8 \(term 4\) is lost/,
  );
  assert.equal((await run('nope', file)).code, 2);
});

test('failover cli: a term raised between x-role and x-promote (a proxy trying) — asked again, promoted above it', async () => {
  const { file, members } = await shardFile(standby(20, true), standby(18, false));
  (members[0] as FakeMember).promotionsRaced = 2;
  const { code, out } = await run('orders', file, true);
  assert.equal(code, 0, out);
  assert.deepEqual(
    members.map((m) => m.promotes),
    [['x-promote 5 force', 'x-promote 6 force', 'x-promote 7 force'], []],
  );
  assert.match(out, /TERM_NOT_HIGHER 5\n.*asking again/);
  assert.match(out, /PROMOTED 7 21/);
  // In sync, but the former primary does not answer: what it confirmed past LSN 20 with only a
  // silent member's acknowledgement is lost — said once, before the first x-promote.
  assert.equal(
    out.match(/WARNING: 127\.0\.0\.1:\d+ is in sync, but 127\.0\.0\.1:\d+ does not answer/g)?.length,
    1,
  );
});

test('failover cli: a standby promoted by someone else meanwhile — nothing more is done', async () => {
  const { file, members } = await shardFile(standby(20, true), standby(18, true));
  const first = members[0] as FakeMember;
  first.promotionsRaced = 1;
  // The race's winner: the other standby, promoted at the term the first x-promote is refused.
  first.onPromote = (term) => {
    (members[1] as FakeMember).state = { role: 'primary', term, lastTerm: term, lastLsn: 19, inSync: true };
  };
  const { code, out } = await run('orders', file);
  assert.equal(code, 1, out);
  assert.match(out, /new primary at term 5 \(promoted meanwhile\): nothing done/);
  assert.deepEqual(
    members.map((m) => m.promotes),
    [['x-promote 5'], []],
  );
});

test('failover cli: a member in the middle of a promotion (candidate) — asked again shortly, then promoted', async () => {
  const { file, members } = await shardFile({ ...standby(20, true), role: 'candidate' });
  const member = members[0] as FakeMember;
  let roles = 0;
  // A proxy's try: refused, the member is a standby again by the time it is asked a second time.
  member.onCommand = (line) => {
    if (line === 'x-role' && ++roles === 2) member.state = { ...standby(20, true), term: 5 };
  };
  const { code, out } = await run('orders', file, true);
  assert.equal(code, 0, out);
  assert.match(out, /candidate term 4.*\n[\s\S]*promotion is under way.*asking again/);
  assert.deepEqual(member.promotes, ['x-promote 6 force']);
  assert.equal(out.match(/WARNING: .* is in sync, but .* does not answer/g)?.length, 1);
});
