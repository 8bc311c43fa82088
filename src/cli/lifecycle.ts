/**
 * How a long-running subcommand (`stalkd node`, `stalkd proxy`) starts and stops, in one place:
 * it tells a launcher over IPC that it listens, drains on SIGUSR1, and stops once on SIGTERM,
 * SIGINT or the loss of its launcher's IPC channel (however the launcher ended), logging why and
 * a summary of what it left.
 */
import type { LogFields, Logger } from '../log/logger';

const startedAtMs = Date.now();

/** The IPC message a child sends once it accepts clients (`stalkd cluster` waits for it). */
export const LISTENING_MESSAGE = 'stalkd:listening';

/** Tells the launcher (if any) that this process now accepts clients. */
export function announceListening(): void {
  if (process.send && process.connected) process.send(LISTENING_MESSAGE);
}

/** SIGUSR1: new puts are refused from now on. */
export function drainOnSignal(log: Logger, drain: () => void): void {
  process.on('SIGUSR1', () => {
    drain();
    log.warn('draining', { signal: 'SIGUSR1', effect: 'new puts are refused until restart' });
  });
}

/**
 * Runs `close` once on SIGTERM, SIGINT or a lost launcher, then logs the stop summary (`summary()`
 * taken before closing, plus the reason and how long closing took) and exits 0 (1 if closing
 * failed). Returns whether stopping has begun (metrics report it as not ready).
 */
export function stopOnSignals(
  log: Logger,
  close: () => Promise<unknown>,
  summary: () => LogFields = () => ({}),
): () => boolean {
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    const before = summary();
    const t0 = performance.now();
    log.info('stopping', { reason });
    close().then(
      () => {
        const stopMs = Math.round(performance.now() - t0);
        const uptimeS = Math.round((Date.now() - startedAtMs) / 1000);
        log.info('stopped', { reason, ...before, stop_ms: stopMs, uptime_s: uptimeS, exit: 0 });
        process.exit(0);
      },
      (err: unknown) => {
        log.error('stop failed', {
          reason,
          error: err instanceof Error ? err.message : String(err),
          exit: 1,
        });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.connected) process.on('disconnect', () => stop('launcher gone'));
  return () => stopping;
}
