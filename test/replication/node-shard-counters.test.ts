/**
 * A standby's `stats-tube` and `stats` describe the same jobs and tubes as its primary's
 * (docs/replication.md, "Counters"), real processes: after a mixed workload (put, delayed put,
 * reserve, delete, release, bury, kick, kick-job, a tube emptied and made again), after the standby
 * restarts and rebuilds them from its log, and after a promotion (both count from the new term).
 * Connection counters (current-using/-watching/-waiting, connections, cmd-*) are each member's own.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MiniClient } from '../support/mini-client';
import { ask, makeShard, role, type Shard, untilRole } from '../support/shard';

const shards: Shard[] = [];
after(async () => {
  for (const s of shards) await s.stopAll();
});

const OWN_TUBE_FIELDS = new Set(['name', 'current-using', 'current-watching', 'current-waiting']);
const SERVER_FIELDS = [
  'current-jobs-urgent',
  'current-jobs-ready',
  'current-jobs-reserved',
  'current-jobs-delayed',
  'current-jobs-buried',
  'job-timeouts',
  'total-jobs',
  'current-tubes',
];

function yamlMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z-]+): (.*)$/.exec(line);
    if (m) map.set(m[1] as string, m[2] as string);
  }
  return map;
}

/** The job and tube figures of a member: every tube of `tubes`, then `stats`. */
async function figures(port: number, tubes: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tube of tubes)
    for (const [k, v] of yamlMap(await ask(port, `stats-tube ${tube}`)))
      if (!OWN_TUBE_FIELDS.has(k)) out[`${tube}.${k}`] = v;
  const stats = yamlMap(await ask(port, 'stats'));
  for (const k of SERVER_FIELDS) out[k] = stats.get(k) as string;
  return out;
}

async function tubesOf(port: number): Promise<string[]> {
  return (await ask(port, 'list-tubes'))
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => l.slice(2))
    .sort();
}

/** `standby` has applied everything `primary` logged; then both describe the same jobs and tubes. */
async function assertSameFigures(primary: number, standby: number, when: string): Promise<void> {
  await untilRole(standby, {
    'last-lsn': (await role(primary)).get('last-lsn') as string,
    'in-sync': 'true',
  });
  const tubes = await tubesOf(primary);
  assert.deepEqual(await tubesOf(standby), tubes, `list-tubes ${when}`);
  const want = await figures(primary, tubes);
  assert.deepEqual(await figures(standby, tubes), want, when);
}

const idOf = (line: string): string => line.split(' ')[1] as string;

/** Put, delayed put, reserve, delete, release, bury, kick, kick-job; nothing stays reserved. */
async function mixedWorkload(c: MiniClient, round: number): Promise<void> {
  assert.equal((await c.send('use emails')).line, 'USING emails');
  for (let i = 0; i < 6; i++)
    assert.match((await c.put(`mail ${round}.${i}`, i < 2 ? 0 : 100)).line, /^INSERTED /);
  const delayed = idOf((await c.put(`later ${round}`, 5, 3600)).line);
  assert.match((await c.put(`much later ${round}`, 5, 7200)).line, /^INSERTED /);
  assert.equal((await c.send('watch emails')).line, 'WATCHING 2');
  const take = async (): Promise<string> => idOf((await c.send('reserve-with-timeout 0')).line);
  assert.equal((await c.send(`delete ${await take()}`)).line, 'DELETED');
  assert.equal((await c.send(`release ${await take()} 50 0`)).line, 'RELEASED');
  assert.equal((await c.send(`bury ${await take()} 7`)).line, 'BURIED');
  assert.equal((await c.send(`bury ${await take()} 8`)).line, 'BURIED');
  assert.equal((await c.send('kick 1')).line, 'KICKED 1');
  assert.equal((await c.send(`kick-job ${delayed}`)).line, 'KICKED');
  // A tube emptied while nobody uses it is dropped, its counters with it, on every member alike.
  assert.equal((await c.send('use brief')).line, 'USING brief');
  const brief = [idOf((await c.put('a')).line), idOf((await c.put('b')).line)];
  assert.equal((await c.send('use other')).line, 'USING other');
  for (const id of brief) assert.equal((await c.send(`delete ${id}`)).line, 'DELETED');
  for (let i = 0; i < 3; i++) assert.match((await c.put(`other ${round}.${i}`)).line, /^INSERTED /);
  assert.equal((await c.send('use brief')).line, 'USING brief');
  assert.match((await c.put('c')).line, /^INSERTED /);
  assert.equal((await c.send('use other')).line, 'USING other');
}

describe('a standby counts as its primary does', () => {
  test('stats-tube and stats agree after a mixed workload, a standby restart and a promotion', async () => {
    // The primary goes on alone while its standby is down (the workload in between needs replies).
    const shard = await makeShard(2, ['--standby-timeout-ms', '300']);
    shards.push(shard);
    const [p, s] = shard.members.map((m) => m.port) as [number, number];
    await Promise.all([shard.start(0), shard.start(1)]);
    await untilRole(p, { role: 'primary', 'in-sync-standbys': '1' });
    const c = await MiniClient.connect(p);
    await mixedWorkload(c, 1);
    const first = await figures(p, ['emails', 'other', 'brief']);
    assert.deepEqual(
      [
        first['emails.total-jobs'],
        first['emails.cmd-delete'],
        first['brief.total-jobs'],
        first['total-jobs'],
      ],
      ['8', '1', '1', '14'],
    );
    await assertSameFigures(p, s, 'following the stream');

    // Restarted, the standby rebuilds them from its log, then counts what it catches up on.
    await shard.kill(1);
    await shard.start(1);
    await assertSameFigures(p, s, 'after a restart (from its log alone)');
    await shard.kill(1);
    await mixedWorkload(c, 2);
    await shard.start(1);
    await assertSameFigures(p, s, 'after a restart and a catch-up');

    // Promoted, the standby counts from its term's start, as the old primary does once it follows.
    const term = Number((await role(s)).get('term'));
    c.close();
    assert.match(await ask(s, `x-promote ${term + 1}`), /^PROMOTED /);
    await untilRole(p, { role: 'standby', primary: `127.0.0.1:${s}`, term: String(term + 1) });
    await untilRole(s, { role: 'primary', 'in-sync-standbys': '1' });
    const d = await MiniClient.connect(s);
    await mixedWorkload(d, 3);
    const third = await figures(s, ['emails', 'brief']);
    assert.deepEqual(
      [
        third['emails.total-jobs'],
        third['emails.cmd-delete'],
        third['brief.total-jobs'],
        third['total-jobs'],
      ],
      ['8', '1', '3', '14'],
      'the new primary counts from its term',
    );
    await assertSameFigures(s, p, 'after a promotion');
    d.close();
  });
});
