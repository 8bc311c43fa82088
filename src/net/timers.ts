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
