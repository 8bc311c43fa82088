/**
 * atEndOfTick (src/net/end-of-tick.ts): what a tick schedules runs in order, after the caller's
 * synchronous code and before the event loop goes on (an immediate queued earlier runs after).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atEndOfTick } from '../../src/net/end-of-tick';

test('atEndOfTick: runs in order after the synchronous code, before the loop goes on', async () => {
  const order: string[] = [];
  const done = new Promise<void>((resolve) =>
    setImmediate(() => {
      order.push('immediate');
      resolve();
    }),
  );
  atEndOfTick(() => order.push('first'));
  atEndOfTick(() => {
    order.push('second');
    atEndOfTick(() => order.push('queued by second'));
  });
  order.push('sync');
  await done;
  assert.deepEqual(order, ['sync', 'first', 'second', 'queued by second', 'immediate']);
});
