/**
 * Time source for the engine. Milliseconds since the Unix epoch (wall clock), because delayed
 * deadlines and job ages must survive a restart through the binlog. Tests inject a FakeClock.
 */
export interface Clock {
  nowMs(): number;
  /**
   * The wall clock with a sub-millisecond fraction, for stamping a job's creation: the proxy
   * orders equal-priority jobs of different nodes by it (docs/proxy.md, "FIFO across nodes").
   */
  preciseNowMs(): number;
}

/**
 * Wall-clock milliseconds with a microsecond fraction. `Date.now()` has whole milliseconds; the
 * fraction comes from the monotonic clock (`performance.now()`) anchored to the wall clock at
 * process start (`performance.timeOrigin`, read with microseconds). NTP slews both clocks alike,
 * so processes on one machine agree to microseconds and the result never runs backwards. A
 * wall-clock step (date set, a VM resumed) moves only the wall clock: once the two disagree by
 * more than STEP_TOLERANCE_MS the anchor is measured again (to ±0.5 ms, the wall clock's
 * resolution). One slow reading (the process descheduled between the two clocks) only costs a
 * re-measurement that finds nothing to correct.
 */
export class PreciseWallClock {
  private anchorMs: number;

  /** The sources are injectable for tests: whole-ms wall clock, monotonic ms, and its origin. */
  constructor(
    private readonly wallMs: () => number = Date.now,
    private readonly monotonicMs: () => number = () => performance.now(),
    originMs = performance.timeOrigin,
  ) {
    this.anchorMs = originMs;
  }

  nowMs(): number {
    const nowMs = this.anchorMs + this.monotonicMs();
    // Date.now() floors: in step, nowMs lies in [wall, wall + 1), so |nowMs − wall − 0.5| ≤ 0.5.
    if (Math.abs(nowMs - this.wallMs() - 0.5) <= STEP_TOLERANCE_MS) return nowMs;
    this.reanchor();
    return this.anchorMs + this.monotonicMs();
  }

  /** Best of a few readings: the one whose wall-clock read was bracketed most tightly. */
  private reanchor(): void {
    let bestWidthMs = Number.POSITIVE_INFINITY;
    let anchorMs = this.anchorMs;
    for (let i = 0; i < 5; i++) {
      const beforeMs = this.monotonicMs();
      const wallMs = this.wallMs();
      const afterMs = this.monotonicMs();
      if (afterMs - beforeMs >= bestWidthMs) continue;
      bestWidthMs = afterMs - beforeMs;
      anchorMs = wallMs + 0.5 - (beforeMs + afterMs) / 2;
    }
    if (Math.abs(anchorMs - this.anchorMs) > 1) this.anchorMs = anchorMs;
  }
}

/** How far the precise clock may be from the wall clock before it is checked again. */
const STEP_TOLERANCE_MS = 1.5;

const precise = new PreciseWallClock();

export const systemClock: Clock = { nowMs: () => Date.now(), preciseNowMs: () => precise.nowMs() };

/** A clock that only moves when told to (its precise time is its time). */
export class FakeClock implements Clock {
  constructor(private currentMs = 1_700_000_000_000) {}
  nowMs(): number {
    return this.currentMs;
  }
  preciseNowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}
