/**
 * Engine clock: the precise wall clock that stamps job creation (cross-node FIFO through the
 * proxy), on injected wall and monotonic sources, and the real one against Date.now().
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock, PreciseWallClock, systemClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';

/** A wall clock that floors like Date.now(), over a true time the test moves. */
class Sources {
  trueMs = 1_700_000_000_000.25;
  monoMs = 5000;
  wall = (): number => Math.floor(this.trueMs);
  mono = (): number => this.monoMs;
  /** Both clocks run. */
  pass(ms: number): void {
    this.trueMs += ms;
    this.monoMs += ms;
  }
}

describe('engine clock', () => {
  test('clock: the precise clock has the fraction the wall clock lacks', () => {
    const src = new Sources();
    const clock = new PreciseWallClock(src.wall, src.mono, src.trueMs - src.monoMs);
    assert.equal(clock.nowMs(), src.trueMs);
    src.pass(0.125);
    assert.equal(clock.nowMs(), src.trueMs);
    src.pass(3.5);
    assert.equal(clock.nowMs(), src.trueMs);
  });

  test('clock: a wall-clock step forward or back is followed, to the wall clock resolution', () => {
    const src = new Sources();
    const clock = new PreciseWallClock(src.wall, src.mono, src.trueMs - src.monoMs);
    src.trueMs += 60_000; // date set forward a minute; the monotonic clock does not see it
    const after = clock.nowMs();
    assert.ok(Math.abs(after - src.trueMs) <= 0.5, `${after} vs ${src.trueMs}`);
    src.trueMs -= 120_000;
    const back = clock.nowMs();
    assert.ok(Math.abs(back - src.trueMs) <= 0.5, `${back} vs ${src.trueMs}`);
    // Once re-anchored, it ticks with the monotonic clock again.
    src.pass(0.25);
    assert.equal(clock.nowMs(), back + 0.25);
  });

  test('clock: one slow reading (descheduled between the clocks) does not move the anchor', () => {
    const src = new Sources();
    let stall = true;
    const slowWall = (): number => {
      // The first wall reading comes 8 ms late, as if the process was descheduled before it.
      if (stall) {
        stall = false;
        return Math.floor(src.trueMs + 8);
      }
      return src.wall();
    };
    const slow = new PreciseWallClock(slowWall, src.mono, src.trueMs - src.monoMs);
    assert.equal(slow.nowMs(), src.trueMs);
    src.pass(0.5);
    assert.equal(slow.nowMs(), src.trueMs);
  });

  test('clock: the real precise clock stays within a millisecond of Date.now() and never goes back', () => {
    let previous = systemClock.preciseNowMs();
    let fractional = 0;
    for (let i = 0; i < 20_000; i++) {
      const before = Date.now();
      const now = systemClock.preciseNowMs();
      const after = Date.now();
      assert.ok(now >= previous, `went back from ${previous} to ${now}`);
      assert.ok(now >= before - 1.5 && now < after + 1.5, `${now} outside [${before}, ${after}]`);
      if (now % 1 !== 0) fractional++;
      previous = now;
    }
    assert.ok(fractional > 10_000, `only ${fractional} readings had a fraction`);
  });

  test('clock: a job keeps the creation time with its fraction', () => {
    const clock = new FakeClock(1_700_000_000_000);
    const stamps = [1_700_000_000_000.125, 1_700_000_000_000.5];
    let next = 0;
    const precise = { nowMs: () => clock.nowMs(), preciseNowMs: () => stamps[next++] ?? Number.NaN };
    const engine = new Engine({ clock: precise });
    const s = engine.openSession(() => {});
    const body = Buffer.from('x\r\n');
    const a = engine.put(s, 0, 0, 1000, body, true);
    const b = engine.put(s, 0, 0, 1000, body, true);
    assert.ok(a.word === 'INSERTED' && b.word === 'INSERTED');
    assert.equal(engine.jobs.get(a.id)?.createdAtMs, stamps[0]);
    assert.equal(engine.jobs.get(b.id)?.createdAtMs, stamps[1]);
  });
});
