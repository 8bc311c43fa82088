/** QuickLooks: the looks after an event that come quickly and back off to the poll (proxy failover, a fenced member). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QuickLooks } from '../../src/net/timers';

const drain = (looks: QuickLooks): number[] => {
  const waits: number[] = [];
  for (let w = looks.next(); w !== undefined; w = looks.next()) waits.push(w);
  return waits;
};

test('quick looks double from the base while shorter than the poll, then leave it to the poll', () => {
  const looks = new QuickLooks(25, 500);
  assert.deepEqual(drain(looks), [25, 50, 100, 200, 400]);
  assert.equal(looks.next(), undefined, 'none until reset');
});

test('reset starts again from the shortest; stop ends them at once', () => {
  const looks = new QuickLooks(50, 500);
  assert.equal(looks.next(), 50);
  assert.equal(looks.next(), 100);
  looks.reset();
  assert.equal(looks.next(), 50);
  looks.stop();
  assert.equal(looks.next(), undefined);
  looks.reset();
  assert.deepEqual(drain(looks), [50, 100, 200, 400]);
});

test('created inactive: no quick look until the first reset', () => {
  const looks = new QuickLooks(25, 500, { active: false });
  assert.equal(looks.next(), undefined);
  looks.reset();
  assert.equal(looks.next(), 25);
});

test('a base at or above the poll gives no quick look at all', () => {
  assert.equal(new QuickLooks(500, 500).next(), undefined);
});

test('a smaller growth looks more often: each wait a quarter longer, all below the poll', () => {
  const waits = drain(new QuickLooks(25, 500, { growth: 1.25 }));
  assert.deepEqual(waits, [25, 31, 39, 49, 61, 76, 95, 119, 149, 186, 233, 291, 364, 455]);
});
