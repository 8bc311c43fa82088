/**
 * Closes connections that a client holds up without making progress (`--request-timeout-ms`):
 * a request whose first bytes arrived but whose end does not (a slowloris trickling a command
 * line or a body), or replies piled up past the output bound that the client does not read —
 * also after the connection was ended, when unsent replies would otherwise keep the socket open.
 *
 * Waiting is not stalling: a worker blocked in `reserve`, or an idle connection between requests,
 * is never timed out here (beanstalkd workers legitimately idle for hours; TCP keepalive finds
 * peers that vanished).
 *
 * Only stalled connections are in the map, so each sweep looks at those alone, and the timer stops
 * at a sweep that finds none (`update` runs per read on the hot path: it only touches the map).
 * Used by the node and by the proxy's client listener.
 */

export interface Stallable {
  /** The deadline passed: drop the connection now, without waiting for unsent output. */
  abortStalled(): void;
}

/** Timers check at most this often; a stalled connection lives at most timeout + this. */
const SWEEP_MAX_INTERVAL_MS = 1000;

export class StallWatch {
  /** Stalled connection → wall-clock ms when the stall began. */
  private readonly since = new Map<Stallable, number>();
  private timer: NodeJS.Timeout | null = null;

  /** Connections closed for stalling since start (stalkd_connections_timed_out_total). */
  timedOut = 0;
  /** Told of each connection closed for stalling (the CLI logs it, rate-limited). */
  onTimeout: (() => void) | undefined;

  /** timeoutMs 0 turns the watch off. */
  constructor(readonly timeoutMs: number) {}

  /**
   * Records `target`'s state after an event. Stalled: the clock starts now if it was not stalled
   * or made progress (a request completed, output drained) — a client streaming requests whose
   * chunks end mid-request is never stalled for long; one trickling a single request is.
   */
  update(target: Stallable, stalled: boolean, progressed: boolean): void {
    if (!stalled) {
      this.since.delete(target);
      return;
    }
    if (this.timeoutMs <= 0 || (!progressed && this.since.has(target))) return;
    this.since.set(target, Date.now());
    if (!this.timer) {
      const intervalMs = Math.max(10, Math.min(SWEEP_MAX_INTERVAL_MS, Math.floor(this.timeoutMs / 4)));
      this.timer = setInterval(() => this.sweep(), intervalMs);
      this.timer.unref();
    }
  }

  /** `target` closed. The timer stops at its next sweep if nothing is left. */
  end(target: Stallable): void {
    this.since.delete(target);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.since.clear();
  }

  private sweep(): void {
    const nowMs = Date.now();
    for (const [target, sinceMs] of this.since) {
      if (nowMs - sinceMs < this.timeoutMs) continue;
      this.since.delete(target);
      this.timedOut++;
      this.onTimeout?.();
      target.abortStalled();
    }
    if (this.since.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
