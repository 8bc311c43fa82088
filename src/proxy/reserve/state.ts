/**
 * A session's reserve state, one typed field of the session (ClientSession.reserve) written only
 * through these methods: how to end a wait that spans nodes when the client half-closes, and the
 * stock path's waits still armed on nodes (stock.ts: strays a later reserve adopts).
 */
import type { Reply } from '../../protocol/reply-parser';
import type { NodeConn } from '../session/node-sync';

/** A stock-node wait that ended: which node, over which connection, with what. */
export interface WaitEvent {
  index: number;
  conn: NodeConn;
  reply: Reply | null;
}

export class ReserveState {
  /** Set while a reserve that spans nodes waits: ends it with TIMED_OUT when the client half-closes. */
  private abortWait: (() => void) | null = null;
  /** Nodes with a stock reserve-with-timeout in flight for this client. */
  readonly armed = new Set<number>();
  /** The running stock reserve, if any; otherwise finished waits are strays. */
  private listener: ((event: WaitEvent) => void) | null = null;

  /** A wait spanning nodes is running. */
  get waitingAcross(): boolean {
    return this.abortWait !== null;
  }

  onAbort(abort: (() => void) | null): void {
    this.abortWait = abort;
  }

  /** The client half-closed: the running wait ends (TIMED_OUT). */
  abort(): void {
    this.abortWait?.();
  }

  listen(listener: ((event: WaitEvent) => void) | null): void {
    this.listener = listener;
  }

  /** Hands a finished stock wait to the running reserve; false when none runs (a stray). */
  deliver(event: WaitEvent): boolean {
    if (!this.listener) return false;
    this.listener(event);
    return true;
  }
}
