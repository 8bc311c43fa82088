/**
 * The elastic cluster end to end (issue 15, docs/migration.md): under continuous producer/consumer
 * load through two proxies, with ready, delayed (1–5 s), buried and reserved jobs in 64 tubes,
 * a 4th node joins (both proxies reload, a few hundred ms apart), `stalkd migrate` runs (a real
 * process), then node-0 leaves (marked leaving, migrate again, then out of the file). A ledger of
 * every acknowledged put is balanced at the end: every job delivered exactly once, buried jobs
 * still buried and kickable through the proxy, delays kept (not early by more than 1 s), nothing
 * left on a non-owner, and puts of moved tubes landing on their new owner.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planMoves } from '../../src/cli/migrate';
import type { ProxyServer } from '../../src/proxy/server';
import { ElasticBed, migrate, topologyFile } from '../support/elastic-load';

test('elastic cluster: add a node, migrate, remove a node, migrate — under load, every job once', async () => {
  const bed = await ElasticBed.start();
  const { nodes, proxies, dir } = bed;
  bed.startLoad();
  try {
    await bed.untilPuts(400);
    // A 4th node joins: the file changes, the proxies reload a few hundred ms apart.
    const four = topologyFile(dir, { nodes });
    await (proxies[0] as ProxyServer).reload(four.topology);
    await bed.untilPuts(bed.ledger.size + 150);
    await (proxies[1] as ProxyServer).reload(four.topology);
    const first = await migrate(four.file);
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /"event":"moved"/);
    // node-0 leaves: first marked leaving, migrate empties it, then it goes from the file.
    const leaving = topologyFile(dir, { nodes: [{ ...nodes[0], leaving: true }, ...nodes.slice(1)] });
    await Promise.all(proxies.map((p) => p.reload(leaving.topology)));
    const second = await migrate(leaving.file);
    assert.equal(second.status, 0, second.out);
    assert.match(second.out, /"event":"leaving","node":"node-0","jobs":0,"empty":true/);
    const gone = topologyFile(dir, { nodes: nodes.slice(1) });
    await Promise.all(proxies.map((p) => p.reload(gone.topology)));
    await bed.stop();
    assert.deepEqual(await planMoves(gone.topology), [], 'nothing left on a non-owner');
    await bed.drainAndCheck();
    console.log(
      `elastic cluster: ${bed.ledger.size} jobs, migrate moved ${(first.out.match(/"event":"moved"/g) ?? []).length} + ${(second.out.match(/"event":"moved"/g) ?? []).length}`,
    );
  } finally {
    await bed.close();
  }
});
