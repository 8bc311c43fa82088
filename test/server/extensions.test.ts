/**
 * The node's x-reserve-wait for the proxy: what its RESERVED line carries with and without the
 * creation-time flag (a proxy older than the flag never sends it and must get the old line).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/engine/clock';
import { ReserveWaitFlag } from '../../src/protocol/commands';
import { rankCandidates } from '../../src/proxy/reserve/ext';
import { startNodeServer } from '../../src/server/node-server';
import { RawClient } from '../support/proxy-harness';

test('x-reserve-wait: RESERVED carries pri, and the creation time in µs only when asked', async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const server = await startNodeServer({ host: '127.0.0.1', port: 0, clock });
  const c = await RawClient.open(server.port);
  try {
    assert.match((await c.cmd('put 9 0 60 1', 'a')).line, /^INSERTED 1$/);
    clock.advance(0.375);
    assert.match((await c.cmd('put 9 0 60 1', 'b')).line, /^INSERTED 2$/);
    const withCreated = await c.cmd(`x-reserve-wait 0 ${ReserveWaitFlag.WithCreated}`);
    assert.equal(withCreated.line, 'RESERVED 1 1 9 1700000000000000');
    assert.equal(withCreated.body?.toString(), 'a');
    const plain = await c.cmd('x-reserve-wait 0 0');
    assert.equal(plain.line, 'RESERVED 2 1 9');
    assert.equal((await c.cmd('x-unreserve 2')).line, 'UNRESERVED');
    const again = await c.cmd(`x-reserve-wait 0 ${ReserveWaitFlag.WithCreated}`);
    assert.equal(again.line, 'RESERVED 2 1 9 1700000000000375');
    // Clients never see the extra fields.
    assert.equal((await c.cmd('release 2 9 0')).line, 'RELEASED');
    assert.equal((await c.cmd('reserve')).line, 'RESERVED 2 1');
  } finally {
    c.close();
    await server.close();
  }
});

test('x-reserve-wait: the proxy ranks by pri, then age when every node sent it, then node index', () => {
  const job = (index: number, pri: number, createdUs: number | null) => ({ w: { index }, pri, createdUs });
  const names = (jobs: ReturnType<typeof job>[]) => rankCandidates(jobs).map((j) => j.w.index);
  assert.deepEqual(names([job(0, 5, 300), job(1, 5, 100), job(2, 5, 200)]), [1, 2, 0]);
  assert.deepEqual(names([job(0, 5, 300), job(1, 4, 900), job(2, 5, 200)]), [1, 2, 0]);
  assert.deepEqual(names([job(0, 5, 300), job(1, 5, 300), job(2, 5, 200)]), [2, 0, 1]);
  // A node older than the flag sent no time: equal priorities go by node index for all of them.
  assert.deepEqual(names([job(2, 5, 100), job(0, 5, null), job(1, 5, 50)]), [0, 1, 2]);
});
