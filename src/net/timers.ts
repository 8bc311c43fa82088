/**
 * The timer calls that retry and probe schedules go through, so tests can inject their own and
 * check delays without waiting for them (as the engine takes a Clock).
 */
export interface Timers {
  /** Calls `fn` once after `delayMs`; the timer must not keep the process alive. */
  set(fn: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set(fn, delayMs) {
    const timer = setTimeout(fn, delayMs);
    timer.unref();
    return timer;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * Looks that come quickly after an event and back off to a regular poll: `baseMs`, then double
 * that at each look in a row, while shorter than `pollMs` — then none until `reset()`. Used where
 * a change is expected within tens of milliseconds but may take seconds (a promotion elsewhere).
 */
export class QuickLooks {
  private looks: number;

  constructor(
    private readonly baseMs: number,
    private readonly pollMs: number,
    active = true,
  ) {
    this.looks = active ? 0 : Number.POSITIVE_INFINITY;
  }

  /** Quick looks again, starting from the shortest. */
  reset(): void {
    this.looks = 0;
  }

  /** No more quick looks until reset(). */
  stop(): void {
    this.looks = Number.POSITIVE_INFINITY;
  }

  /** The wait before the next quick look, or undefined when the poll looks as soon. */
  next(): number | undefined {
    const waitMs = this.baseMs * 2 ** this.looks;
    if (waitMs >= this.pollMs) return undefined;
    this.looks++;
    return waitMs;
  }
}
