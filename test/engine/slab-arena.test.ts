/** Slab arena: placement, dropping empty slabs, evacuating sparse ones, bounds on memory and copying. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ARENA_HEADER_BYTES, type Slab, SlabArena } from '../../src/engine/slab-arena';
import { prng } from '../support/engine-fixture';

const SLAB = 1024;

/** An arena whose records carry their key as text after the header, and a map of where each is. */
class Fixture {
  readonly where = new Map<number, { slab: Slab; at: number }>();
  readonly arena = new SlabArena((key, slab, at) => {
    assert.ok(this.where.has(key), `moved unknown key ${key}`);
    this.where.set(key, { slab, at });
  }, SLAB);
  freedBytes = 0;

  alloc(key: number, payloadBytes: number): void {
    const bytes = ARENA_HEADER_BYTES + payloadBytes;
    const slab = this.arena.alloc(key, bytes);
    const at = slab.lastAt;
    slab.bytes.fill(key % 251, at + ARENA_HEADER_BYTES, at + bytes);
    this.where.set(key, { slab, at });
  }

  free(key: number): void {
    const place = this.where.get(key);
    assert.ok(place);
    this.freedBytes += (place.slab.lengthAt(place.at) + 7) & ~7;
    this.arena.free(place.slab, place.at);
    this.where.delete(key);
  }

  /** Every live record is where its owner thinks, with its key, length and bytes intact. */
  check(sizes: Map<number, number>): void {
    let live = 0;
    for (const [key, { slab, at }] of this.where) {
      assert.equal(slab.keyAt(at), key);
      const bytes = ARENA_HEADER_BYTES + (sizes.get(key) as number);
      assert.equal(slab.lengthAt(at), bytes);
      for (let i = at + ARENA_HEADER_BYTES; i < at + bytes; i++)
        assert.equal(slab.bytes[i], key % 251, `record ${key} damaged`);
      live += (bytes + 7) & ~7;
    }
    assert.equal(this.arena.liveBytes, live);
    assert.equal(this.arena.liveRecords, this.where.size);
  }
}

describe('slab arena', () => {
  test('slab arena: records share a slab, 8-aligned; a slab emptied after sealing is dropped', () => {
    const f = new Fixture();
    const sizes = new Map<number, number>();
    for (let key = 1; key <= 40; key++) {
      sizes.set(key, 50);
      f.alloc(key, 50); // 62 bytes → 64
    }
    f.check(sizes);
    for (const { at } of f.where.values()) assert.equal(at % 8, 0);
    assert.equal(f.arena.slabCount, 3, '16 records a slab: two sealed, one current');
    const first = f.where.get(1)?.slab;
    for (let key = 1; key <= 16; key++) assert.equal(f.where.get(key)?.slab, first);
    for (let key = 1; key <= 16; key++) {
      f.free(key);
      sizes.delete(key);
    }
    // Under half live after the 9th free: the 7 left moved to the current slab, the first went.
    assert.equal(f.arena.slabCount, 2);
    assert.equal(f.arena.movedRecords, 7);
    f.check(sizes);
  });

  test('slab arena: evacuating a sparse slab tells owners the new place and keeps the bytes', () => {
    const f = new Fixture();
    const sizes = new Map<number, number>();
    for (let key = 1; key <= 48; key++) {
      sizes.set(key, 50);
      f.alloc(key, 50);
    }
    const before = f.where.get(2);
    const view = before?.slab.bytes.subarray((before?.at ?? 0) + ARENA_HEADER_BYTES, (before?.at ?? 0) + 62);
    // Free 9 of the first slab's 16: exactly half live is kept, under half is evacuated.
    for (const key of [1, 3, 5, 7, 9, 11, 13, 15]) {
      f.free(key);
      sizes.delete(key);
    }
    assert.equal(f.arena.movedRecords, 0);
    f.free(16);
    sizes.delete(16);
    f.check(sizes);
    assert.notEqual(f.where.get(2)?.slab, before?.slab, 'key 2 moved');
    assert.equal(f.arena.movedRecords, 7);
    assert.ok(
      view?.every((b) => b === 2),
      'a view taken before the move still reads the old bytes',
    );
  });

  test('slab arena: records too big to share get a slab of their own, dropped on free', () => {
    const f = new Fixture();
    f.alloc(1, SLAB * 3);
    f.alloc(2, 20);
    assert.equal(f.arena.slabCount, 2);
    assert.equal(f.where.get(1)?.slab.dedicated, true);
    f.free(1);
    assert.equal(f.arena.slabCount, 1);
    assert.equal(f.arena.capacityBytes, SLAB);
    f.check(new Map([[2, 20]]));
  });

  test('slab arena: frees in random order keep slab bytes ≤ 2 × live + one slab; copying ≤ 4/3 of freed', () => {
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const f = new Fixture();
      const sizes = new Map<number, number>();
      let nextKey = 1;
      for (let round = 0; round < 20_000; round++) {
        // Grow to ~600 records, then churn; sizes from tiny to just over the sharing limit.
        const grow = sizes.size < 600 ? 0.7 : 0.45;
        if (sizes.size === 0 || rand() < grow) {
          const size = rand() < 0.02 ? SLAB / 8 + Math.floor(rand() * SLAB) : Math.floor(rand() * 100);
          sizes.set(nextKey, size);
          f.alloc(nextKey++, size);
        } else {
          const keys = [...f.where.keys()];
          const key = keys[Math.floor(rand() * keys.length)] as number;
          f.free(key);
          sizes.delete(key);
        }
        const a = f.arena;
        assert.ok(
          a.capacityBytes <= 2 * a.liveBytes + SLAB,
          `seed ${seed} round ${round}: ${a.capacityBytes} bytes of slabs for ${a.liveBytes} live`,
        );
        if (round % 1000 === 0) f.check(sizes);
      }
      f.check(sizes);
      assert.ok(f.arena.movedBytes > 0, 'evacuations happened');
      assert.ok(f.arena.movedBytes <= (4 / 3) * f.freedBytes, `seed ${seed}: copying bounded by freeing`);
      for (const key of [...f.where.keys()]) f.free(key);
      assert.equal(f.arena.liveBytes, 0);
      assert.ok(f.arena.slabCount <= 1, 'only the current slab is left');
    }
  });
});
