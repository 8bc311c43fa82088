/**
 * Per-second rates from successive readings of monotonic counters (`cmd-put`, a tube's
 * `total-jobs`, …). A counter that goes down (the server restarted, or the tube was dropped and
 * recreated) restarts the series instead of producing a negative rate. Readings not refreshed by
 * the latest `sweep` are forgotten, so vanished tubes do not accumulate.
 */

interface Reading {
  value: number;
  atMs: number;
  generation: number;
}

/** Rates are shown to one decimal: finer digits would flicker every second in the table. */
export function roundRate(perSec: number): number {
  return Math.round(perSec * 10) / 10;
}

/** What a counter did since its previous reading. */
export interface Step {
  delta: number;
  elapsedMs: number;
}

export class RateTracker {
  private readonly readings = new Map<string, Reading>();
  private generation = 0;

  /**
   * Records `value` for `key` at `atMs` and returns the change since the previous reading, or null
   * for the first reading, a reset counter, or no elapsed time.
   */
  step(key: string, value: number, atMs: number): Step | null {
    const prev = this.readings.get(key);
    this.readings.set(key, { value, atMs, generation: this.generation });
    if (!prev || value < prev.value || atMs <= prev.atMs) return null;
    return { delta: value - prev.value, elapsedMs: atMs - prev.atMs };
  }

  /**
   * The change of a quantity that may go down (a gauge plus a counter, as in the reserve
   * estimate): never negative, null on the first reading.
   */
  flowStep(key: string, value: number, atMs: number): Step | null {
    const prev = this.readings.get(key);
    this.readings.set(key, { value, atMs, generation: this.generation });
    if (!prev || atMs <= prev.atMs) return null;
    return { delta: Math.max(0, value - prev.value), elapsedMs: atMs - prev.atMs };
  }

  /** The per-second rate of `step`. */
  rate(key: string, value: number, atMs: number): number | null {
    return perSecond(this.step(key, value, atMs));
  }

  /** The per-second rate of `flowStep`. */
  flow(key: string, value: number, atMs: number): number | null {
    return perSecond(this.flowStep(key, value, atMs));
  }

  /** Ends a poll: drops keys not read since the previous sweep. */
  sweep(): void {
    for (const [key, r] of this.readings) if (r.generation !== this.generation) this.readings.delete(key);
    this.generation++;
  }
}

/** A step as a rate per second, rounded (roundRate); null stays null. */
export function perSecond(step: Step | null): number | null {
  return step === null ? null : roundRate((step.delta * 1000) / step.elapsedMs);
}
