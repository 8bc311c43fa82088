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

/** Adds `ids` in order (slot = position), checks every one is found and `absent` ones are not. */
function indexOf(ids: number[]): IdIndex {
  const index = new IdIndex((slot) => ids[slot] as number);
  ids.forEach((id, slot) => {
    index.add(id, slot);
  });
  return index;
}

function assertFinds(index: IdIndex, ids: number[], absent: number[]): void {
  ids.forEach((id, slot) => {
    assert.equal(index.get(id), slot, `id ${id}`);
  });
  for (const id of absent) assert.equal(index.get(id), -1, `absent id ${id}`);
}

describe('id index placement', () => {
  test('id index: consecutive and strided ids stay placed by their low bits', () => {
    for (const stride of [1, 2, 3, 4, 7, 16]) {
      const ids = Array.from({ length: 20_000 }, (_, i) => 1000 + i * stride);
      const index = indexOf(ids);
      assert.equal(index.hashing, false, `stride ${stride}`);
      assertFinds(index, ids, [999, 1000 + 20_000 * stride, 2 ** 40]);
    }
  });

  test('id index: a pattern low bits place badly (every 4096th id kept) switches to hashing', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => 7 + i * 4096);
    const index = indexOf(ids);
    assert.equal(index.hashing, true);
    assertFinds(index, ids, [8, 7 + 5000 * 4096, 7 + 2 ** 32]);
    // Removing most of them resizes the table, which tries low bits again and keeps what is left.
    for (const id of ids.slice(20)) index.delete(id);
    assert.equal(index.size, 20);
    assert.equal(index.hashing, false, 'back to low bits after a resize');
    assertFinds(index, ids.slice(0, 20), ids.slice(20, 80));
  });

  test('id index: old jobs whose ids wrap onto the new window are found, absent ids are not', () => {
    const rand = prng(5);
    // 3,000 old ids kept, then a window of puts and deletes far above them (ids wrap mod capacity).
    const ids: number[] = [];
    const index = new IdIndex((slot) => ids[slot] as number);
    const live = new Map<number, number>();
    const freeSlots: number[] = [];
    const add = (id: number): void => {
      const slot = freeSlots.pop() ?? ids.length;
      ids[slot] = id;
      index.add(id, slot);
      live.set(id, slot);
    };
    for (let id = 1; id <= 3000; id++) add(id);
    let next = 100_000;
    for (let step = 0; step < 40_000; step++) {
      if (live.size < 4000 || rand() < 0.5) add(next++);
      else {
        const victim = next - 1 - Math.floor(rand() * 800);
        const slot = live.get(victim);
        if (slot === undefined || victim <= 3000) continue;
        index.delete(victim);
        live.delete(victim);
        freeSlots.push(slot);
      }
      if (step % 2000 === 0) {
        for (const [id, slot] of live) assert.equal(index.get(id), slot, `step ${step} id ${id}`);
        for (let k = 0; k < 50; k++) assert.equal(index.get(next + k * 4096), -1);
      }
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
