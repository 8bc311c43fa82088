/**
 * `stalkd rebalance --suggest` and moving a pinned tube (docs/migration.md, "Rebalancing"): the
 * suggestion evens out the observed load, and pinning a tube to another node then running `stalkd
 * migrate` moves its jobs there, states kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { suggestPins } from '../../src/cli/rebalance';
import { Client } from '../../src/client/client';
import { Placement } from '../../src/proxy/ring';
import { parseTopology } from '../../src/proxy/topology';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { runCli } from '../support/cli-process';

const NODES = [0, 1, 2].map((index) => ({
  name: `node-${index}`,
  index,
  host: '127.0.0.1',
  port: 1 + index,
}));

/** `count` tube names the ring gives to node `index` of `topology`. */
function tubesOwnedBy(doc: { nodes: unknown[] }, index: number, count: number): string[] {
  const placement = new Placement(parseTopology(doc));
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) if (placement.ownerOf(`t${i}`).index === index) out.push(`t${i}`);
  return out;
}

test('rebalance: the suggested pins even out the load, and a second suggestion finds nothing to add', () => {
  const doc = { nodes: NODES };
  const heavy = tubesOwnedBy(doc, 0, 4);
  const loads = new Map(heavy.map((t, i) => [t, [400, 300, 200, 100][i] as number]));
  const s = suggestPins(parseTopology(doc), loads);
  assert.deepEqual([...s.before.values()].sort(), [0, 0, 1000]);
  assert.ok(s.pins.size > 0);
  for (const node of s.pins.values()) assert.notEqual(node, 'node-0', 'pins move load away from the busiest');
  const spread = (m: Map<string, number>) => Math.max(...m.values()) - Math.min(...m.values());
  assert.ok(spread(s.after) < spread(s.before), `spread ${spread(s.before)} → ${spread(s.after)}`);
  assert.equal(
    [...s.after.values()].reduce((a, b) => a + b),
    1000,
  );
  const again = suggestPins(parseTopology({ ...doc, pins: Object.fromEntries(s.pins) }), loads);
  assert.deepEqual(again.after, s.after, 'the pinned topology has the suggested load');
  assert.equal(again.pins.size, 0, 'nothing left to even out');
});

test('rebalance: stalkd rebalance --suggest reads the load from the nodes; pinning a tube elsewhere and running migrate moves it', async () => {
  const servers: NodeServer[] = await Promise.all(
    [0, 1, 2].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })),
  );
  const nodes = NODES.map((n, i) => ({ ...n, port: (servers[i] as NodeServer).port }));
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-rebalance-'));
  const file = join(dir, 'topology.json');
  const clients = await Promise.all(nodes.map((n) => Client.connect({ host: n.host, port: n.port })));
  try {
    writeFileSync(file, JSON.stringify({ nodes }));
    // node-0 carries all the load: three of its tubes with 30, 20 and 10 jobs (ready, delayed, buried).
    const heavy = tubesOwnedBy({ nodes }, 0, 3);
    const c0 = clients[0] as Client;
    for (const [k, tube] of heavy.entries()) {
      await c0.use(tube);
      for (let i = 0; i < 30 - 10 * k; i++)
        await c0.put(`${tube}-${i}`, { pri: i, delaySecs: i % 3 === 1 ? 600 : 0 });
    }
    await c0.use(heavy[0] as string);
    const buried = await c0.reserveJob(await c0.put('to bury', { pri: 7 }));
    assert.ok(typeof buried === 'object');
    assert.equal(await c0.bury(buried.id, 7), 'BURIED');
    const suggest = await runCli(['rebalance', '--suggest', '--topology', file, '--json']);
    assert.equal(suggest.status, 0, suggest.stderr);
    const { pins } = JSON.parse(suggest.stdout) as { pins: Record<string, string> };
    assert.ok(Object.keys(pins).length > 0, suggest.stdout);
    const text = await runCli(['rebalance', '--suggest', '--topology', file]);
    assert.match(text.stdout, /^load now: node-0 100 %, node-1 0 %, node-2 0 %$/m);
    assert.match(text.stdout, /"pins": \{/);
    // Apply them and migrate: each pinned tube's jobs go to its node, in their states.
    writeFileSync(file, JSON.stringify({ nodes, pins }));
    const migrate = await runCli(['migrate', '--topology', file, '--json']);
    assert.equal(migrate.status, 0, migrate.stdout + migrate.stderr);
    for (const [tube, node] of Object.entries(pins)) {
      const to = clients[nodes.findIndex((n) => n.name === node)] as Client;
      const before = heavy.indexOf(tube);
      const there = await to.statsTube(tube);
      const jobs = 30 - 10 * before + (before === 0 ? 1 : 0);
      const held = there
        ? there['current-jobs-ready'] + there['current-jobs-delayed'] + there['current-jobs-buried']
        : 0;
      assert.equal(held, jobs, `${tube} on ${node}`);
      if (before === 0) assert.equal(there?.['current-jobs-buried'], 1, 'the buried job stays buried');
      const left = await c0.statsTube(tube);
      const stays = left
        ? left['current-jobs-ready'] + left['current-jobs-delayed'] + left['current-jobs-buried']
        : 0;
      assert.equal(stays, 0, `${tube} left node-0`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
