/**
 * The proxy's log of node reachability: one warning when a node goes down (the first failed
 * connection or request after it was up — the proxy marks it down then), one line when it answers
 * again with how long it was away. Failures while a node is already down are not repeated (the
 * proxy probes it every second): they are in stalkd_proxy_backend_errors_total.
 */
import type { Logger } from '../log/logger';

export class NodeTransitions {
  /** Down nodes and since when (ms). */
  private readonly downSinceMs = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** A node that is down from the start (never reached yet). */
  initiallyDown(node: string): void {
    if (this.downSinceMs.has(node)) return;
    this.downSinceMs.set(node, this.nowMs());
    this.log.warn('node down', { node, reason: 'not reachable at start' });
  }

  failed(node: string, kind: string): void {
    if (this.downSinceMs.has(node)) return;
    this.downSinceMs.set(node, this.nowMs());
    this.log.warn('node down', { node, reason: kind });
  }

  reconnected(node: string): void {
    const since = this.downSinceMs.get(node);
    if (since === undefined) return;
    this.downSinceMs.delete(node);
    this.log.info('node up', { node, down_ms: this.nowMs() - since });
  }
}
