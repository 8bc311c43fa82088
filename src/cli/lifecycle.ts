/**
 * How a long-running subcommand (`stalkd node`, `stalkd proxy`) starts and stops, in one place:
 * it tells a launcher over IPC that it listens, drains on SIGUSR1, and stops once on SIGTERM,
 * SIGINT or the loss of its launcher's IPC channel (however the launcher ended).
 */

/** The IPC message a child sends once it accepts clients (`stalkd cluster` waits for it). */
export const LISTENING_MESSAGE = 'stalkd:listening';

/** Tells the launcher (if any) that this process now accepts clients. */
export function announceListening(): void {
  if (process.send && process.connected) process.send(LISTENING_MESSAGE);
}

/** SIGUSR1: new puts are refused from now on (`label` starts the log line). */
export function drainOnSignal(label: string, drain: () => void): void {
  process.on('SIGUSR1', () => {
    drain();
    process.stderr.write(`${label}: draining: new puts are refused\n`);
  });
}

/**
 * Runs `close` once on SIGTERM, SIGINT or a lost launcher, then exits 0 (1 if closing failed).
 * Returns whether stopping has begun (metrics report it as not ready).
 */
export function stopOnSignals(label: string, close: () => Promise<unknown>): () => boolean {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${label}: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.connected) process.on('disconnect', stop);
  return () => stopping;
}
