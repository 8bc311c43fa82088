/**
 * The move metrics of a node (docs/metrics.md, docs/migration.md): jobs moved out and in, jobs
 * moving now, and move steps refused by reason — driven by real moves between two nodes over
 * sockets (src/client/job-move.ts, the code stalkd migrate runs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Registry } from 'prom-client';
import { Client } from '../../src/client/client';
import { moveJob } from '../../src/client/job-move';
import { createRegistry } from '../../src/metrics/common';
import { NODE } from '../../src/metrics/families';
import { registerNodeMetrics } from '../../src/metrics/node-metrics';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { parseExposition, sampleValue } from '../support/exposition';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  return sampleValue(parseExposition(await registry.metrics()), name, labels);
}

async function nodeWithMetrics(): Promise<{ node: NodeServer; registry: Registry; client: Client }> {
  const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const registry = createRegistry('node');
  registerNodeMetrics(registry, node);
  return { node, registry, client: await Client.connect({ host: '127.0.0.1', port: node.port }) };
}

test('metrics: jobs moved out and in, jobs moving now, move steps refused by reason', async () => {
  const source = await nodeWithMetrics();
  const dest = await nodeWithMetrics();
  const destinationOf = async () => dest.client;
  try {
    const ids = [await source.client.put('a'), await source.client.put('b'), await source.client.put('c')];
    for (const id of ids.slice(0, 2)) {
      const moved = await moveJob(source.client, 'node-0', id, 'node-1', destinationOf);
      assert.equal(typeof moved, 'object');
    }
    assert.equal(await value(source.registry, NODE.jobsMoved.name, { direction: 'out' }), 2);
    assert.equal(await value(source.registry, NODE.jobsMoved.name, { direction: 'in' }), 0);
    assert.equal(await value(dest.registry, NODE.jobsMoved.name, { direction: 'in' }), 2);
    assert.equal(await value(source.registry, NODE.jobsMoving.name), 0);
    // The third move stops after its first step: moving on the source; the destination refuses it.
    assert.match(
      (await source.client.raw(`x-move-out ${ids[2]} node-1`)).line,
      /^MOVING node-1 default ready /,
    );
    assert.equal(await value(source.registry, NODE.jobsMoving.name), 1);
    dest.node.drain();
    await assert.rejects(moveJob(source.client, 'node-0', ids[2] as number, '-', destinationOf), /DRAINING/);
    assert.equal(await value(dest.registry, NODE.movesFailed.name, { reason: 'draining' }), 1);
    assert.equal(
      await value(dest.registry, NODE.putsRefused.name, { reason: 'draining' }),
      0,
      'not a client put',
    );
    assert.equal(await value(source.registry, NODE.jobsMoving.name), 1, 'still moving: nothing lost');
    assert.equal(await value(dest.registry, NODE.jobsMoved.name, { direction: 'in' }), 2);
  } finally {
    await Promise.all([source.client.close(), dest.client.close()]);
    await Promise.all([source.node.close(), dest.node.close()]);
  }
});
