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
 * Looks that come quickly after an event and back off to a regular poll: `baseMs`, then `growth`
 * times the last wait at each look in a row, while shorter than `pollMs` — then none until
 * `reset()`. Used where a change is expected within tens of milliseconds but may take seconds (a
 * promotion elsewhere): a look comes at most `growth − 1` of the time waited so far after it.
 */
export class QuickLooks {
  private waitMs: number;
  private readonly growth: number;

  constructor(
    private readonly baseMs: number,
    private readonly pollMs: number,
    options: { active?: boolean; growth?: number } = {},
  ) {
    this.growth = options.growth ?? 2;
    this.waitMs = options.active === false ? Number.POSITIVE_INFINITY : baseMs;
  }

  /** Quick looks again, starting from the shortest. */
  reset(): void {
    this.waitMs = this.baseMs;
  }

  /** No more quick looks until reset(). */
  stop(): void {
    this.waitMs = Number.POSITIVE_INFINITY;
  }

  /** The wait before the next quick look, or undefined when the poll looks as soon. */
  next(): number | undefined {
    const waitMs = this.waitMs;
    if (waitMs >= this.pollMs) return undefined;
    this.waitMs = waitMs * this.growth;
    return Math.round(waitMs);
  }
}
