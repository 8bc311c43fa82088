/**
 * A node connection's reply deadline measures the node, not the proxy: when the proxy's own event
 * loop stalls past the deadline (here Atomics.wait holds the thread, as a long turn or a starved
 * CPU would), a reply that arrived meanwhile is read rather than called late, and a request written
 * right after the stall gets its whole deadline. The node is a separate process, so it answers
 * while this one stands still.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend } from '../../../src/proxy/node/backend';
import { type StalkdProcess, startNodeProcess } from '../../support/processes';

const TIMEOUT_MS = 2000;
const STALL_MS = TIMEOUT_MS + 500;

/** Holds this thread for `ms` without giving the event loop a turn. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('backend deadlines across a stall of the proxy', () => {
  let node: StalkdProcess;
  before(async () => {
    node = await startNodeProcess();
  });
  after(() => node.kill());

  const open = async (failures: string[]): Promise<Backend> => {
    const backend = new Backend({
      host: '127.0.0.1',
      port: node.port,
      timeoutMs: TIMEOUT_MS,
      maxPending: 16,
      onFailure: (_b, reason) => failures.push(reason),
    });
    assert.ok(await backend.connected);
    return backend;
  };

  test('backend: a reply that arrived while the proxy stalled past the deadline is read, not a timeout', async () => {
    const failures: string[] = [];
    const backend = await open(failures);
    const reply = backend.request('list-tube-used');
    // The request leaves at the end of this tick; the stall starts in the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    stall(STALL_MS);
    assert.equal((await reply)?.line, 'USING default');
    assert.deepEqual(failures, []);
    backend.close();
  });

  test('backend: a request written right after a stall gets its whole deadline', async () => {
    const failures: string[] = [];
    const backend = await open(failures);
    stall(STALL_MS);
    // The sweep has not run since before the stall: its clock is STALL_MS behind.
    const reply = backend.request('list-tube-used');
    assert.equal((await reply)?.line, 'USING default');
    assert.deepEqual(failures, []);
    backend.close();
  });
});
