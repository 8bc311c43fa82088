/**
 * The node's x-reserve-wait for the proxy: what its RESERVED line carries with and without the
 * creation-time flag (a proxy older than the flag never sends it and must get the old line); and
 * x-put, the put lane's put into a named tube, with x-hello naming it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/engine/clock';
import { ReserveWaitFlag } from '../../src/protocol/commands';
import { rankCandidates } from '../../src/proxy/reserve/ext';
import { startNodeServer } from '../../src/server/node-server';
import { STALKD_VERSION } from '../../src/version';
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

/** `key: value` of a stats YAML body. */
function statOf(body: Buffer | undefined, key: string): string | undefined {
  return new RegExp(`\\n${key}: "?([^"\\n]*)"?\\n`).exec(body?.toString() ?? '')?.[1];
}

test('x-put: a put into the named tube, the connection using its own tube throughout', async () => {
  const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const c = await RawClient.open(server.port);
  try {
    assert.equal((await c.cmd('x-hello')).line, `OK stalkd ${STALKD_VERSION} x-put`);
    assert.equal((await c.cmd('use mine')).line, 'USING mine');
    assert.equal((await c.cmd('x-put other 7 0 60 2', 'hi')).line, 'INSERTED 1');
    assert.equal((await c.cmd('list-tube-used')).line, 'USING mine');
    const other = (await c.cmd('stats-tube other')).body;
    assert.equal(statOf(other, 'current-jobs-ready'), '1');
    assert.equal(statOf(other, 'current-using'), '0');
    assert.equal(statOf((await c.cmd('stats-tube mine')).body, 'current-using'), '1');
    const job = (await c.cmd('stats-job 1')).body;
    assert.equal(statOf(job, 'tube'), 'other');
    assert.equal(statOf(job, 'pri'), '7');
    assert.equal(statOf((await c.cmd('stats')).body, 'cmd-put'), '1');
    // A refused put leaves no tube behind; the next line is read as a command again.
    c.write('x-put gone 0 0 60 2\r\nhiXY');
    assert.equal((await c.next())?.line, 'EXPECTED_CRLF');
    assert.equal((await c.cmd('stats-tube gone')).line, 'NOT_FOUND');
    assert.equal((await c.cmd('x-put -bad 0 0 60 2')).line, 'BAD_FORMAT');
    assert.equal((await c.cmd('peek 1')).body?.toString(), 'hi');
  } finally {
    c.close();
    await server.close();
  }
});
