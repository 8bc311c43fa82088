/** Job-table building blocks: the id index and the slot heap, against plain models. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdIndex } from '../../src/engine/id-index';
import { SlotHeap } from '../../src/engine/slot-heap';
import { prng } from '../support/engine-fixture';

describe('id index', () => {
  test('id index: finds, moves and deletes like a Map through growth and shrinking', () => {
    for (const seed of [1, 2]) {
      const rand = prng(seed);
      const ids: number[] = []; // slot → id
      const index = new IdIndex((slot) => ids[slot] as number);
      const model = new Map<number, number>();
      const freeSlots: number[] = [];
      // Ids with a stride (as nodes behind a proxy), some past 2^32, a few near 2^53.
      const idAt = (n: number): number =>
        n % 50 === 0 ? Number.MAX_SAFE_INTEGER - n : n % 7 === 0 ? 2 ** 32 + n * 3 : 1 + n * 3;
      let n = 0;
      let peak = 0;
      for (let step = 0; step < 30_000; step++) {
        const phase = Math.floor(step / 10_000); // grow, churn, drain
        const r = rand();
        if (model.size === 0 || (phase === 0 && r < 0.8) || (phase === 1 && r < 0.5)) {
          const id = idAt(n++);
          const slot = freeSlots.pop() ?? ids.length;
          ids[slot] = id;
          index.add(id, slot);
          model.set(id, slot);
        } else if (r < 0.95 || phase === 2) {
          const keys = [...model.keys()];
          const id = keys[Math.floor(rand() * keys.length)] as number;
          index.delete(id);
          freeSlots.push(model.get(id) as number);
          model.delete(id);
        } else {
          // Renumber a job (as the table does when it shrinks).
          const keys = [...model.keys()];
          const id = keys[Math.floor(rand() * keys.length)] as number;
          const slot = ids.length;
          ids[slot] = id;
          freeSlots.push(model.get(id) as number);
          index.move(id, slot);
          model.set(id, slot);
        }
        peak = Math.max(peak, model.size);
        assert.equal(index.size, model.size);
        assert.ok(index.size * 4 <= index.capacity * 3, 'load at most 3/4');
        if (step % 500 === 0 || phase === 2) {
          for (const [id, slot] of model) assert.equal(index.get(id), slot, `seed ${seed} step ${step}`);
          assert.equal(index.get(idAt(n + 1)), -1, 'an id never added is absent');
        }
      }
      assert.ok(peak > 5000, 'the table grew');
      assert.equal(index.size, 0);
      assert.equal(index.capacity, 16, 'and shrank back when drained');
    }
  });
});

describe('slot heap', () => {
  test('slot heap: pops in key order through pushes, removals and re-keying; positions stay right', () => {
    const rand = prng(9);
    const key: number[] = [];
    const position: number[] = [];
    const heap = new SlotHeap(
      (a, b) => (key[a] as number) < (key[b] as number) || (key[a] === key[b] && a < b),
      (slot, i) => {
        position[slot] = i;
      },
      (slot) => position[slot] ?? -1,
    );
    const inHeap = new Set<number>();
    for (let step = 0; step < 20_000; step++) {
      const r = rand();
      if (inHeap.size === 0 || r < 0.45) {
        const slot = key.length;
        key[slot] = Math.floor(rand() * 100);
        heap.push(slot);
        inHeap.add(slot);
      } else if (r < 0.7) {
        const best = [...inHeap].sort((a, b) => (key[a] as number) - (key[b] as number) || a - b)[0];
        assert.equal(heap.pop(), best);
        inHeap.delete(best as number);
      } else if (r < 0.9) {
        const slots = [...inHeap];
        const slot = slots[Math.floor(rand() * slots.length)] as number;
        assert.equal(heap.remove(slot), true);
        assert.equal(heap.remove(slot), false, 'removing twice finds nothing');
        inHeap.delete(slot);
      } else {
        const slots = [...inHeap];
        const slot = slots[Math.floor(rand() * slots.length)] as number;
        key[slot] = Math.floor(rand() * 100);
        heap.update(slot);
      }
      assert.equal(heap.size, inHeap.size);
      for (const slot of heap.values()) assert.ok(heap.has(slot));
    }
    const drained: number[] = [];
    for (let slot = heap.pop(); slot !== -1; slot = heap.pop()) drained.push(slot);
    const expected = [...inHeap].sort((a, b) => (key[a] as number) - (key[b] as number) || a - b);
    assert.deepEqual(drained, expected);
    assert.equal(heap.peek(), -1);
  });
});
