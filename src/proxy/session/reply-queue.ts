/**
 * A client's requests in arrival order, and the rule that starts them: replies leave strictly in
 * request order, and requests run in order under one rule that keeps beanstalkd's causality:
 *
 * - requests may be pipelined to one node at a time: a request for another node waits until the
 *   earlier ones are answered (at most `maxInflight` outstanding);
 * - 'local' requests (answered from session state) run at once;
 * - a barrier (a reserve spanning nodes, a fan-out, quit) starts when nothing is outstanding and no
 *   state change is unacknowledged, and nothing starts until it finishes — as beanstalkd stops
 *   reading a connection that waits in reserve.
 *
 * The queue decides; its host (the session) runs what it is told to start and writes what
 * `takeAnswered` hands out.
 */
import { Fifo } from '../../net/fifo';
import type { Request } from '../../protocol/commands';
import type { ReplyBytes } from '../../protocol/replies';
import type { Target } from '../types';

export interface Slot {
  readonly req: Request;
  reply: ReplyBytes | null;
  /** performance.now() when started (metrics only). */
  startedAtMs: number;
}

export interface ReplyQueueHost {
  /** Where `req` goes in the ordering rule. */
  targetOf(req: Request): Target;
  /** False while the client's unread output is over its bound: nothing starts. */
  mayStart(): boolean;
  /** Runs `slot`'s request; its reply comes back through `complete`. */
  start(slot: Slot, target: Target): void;
  /** True while state changes are unacknowledged (barriers wait for them). */
  syncPending(): boolean;
}

export class ReplyQueue {
  /** Requests in arrival order: [0, started) started, [started, length) waiting. */
  private readonly slots = new Fifo<Slot>();
  private started = 0;
  /** Requests sent to a node and not yet answered, all to `activeNode`. */
  private outstanding = 0;
  private activeNode = -1;
  private inBarrier = false;

  constructor(
    private readonly host: ReplyQueueHost,
    private readonly maxInflight: number,
  ) {}

  /** Requests read and not yet answered to the client. */
  get length(): number {
    return this.slots.length;
  }

  push(req: Request): void {
    this.slots.push({ req, reply: null, startedAtMs: 0 });
  }

  /** Starts every request the ordering rule and the bounds allow. */
  pump(): void {
    while (!this.inBarrier && this.started < this.slots.length) {
      if (!this.host.mayStart()) return;
      const slot = this.slots.at(this.started) as Slot;
      const target = this.host.targetOf(slot.req);
      if (target === 'barrier') {
        if (this.outstanding > 0 || this.host.syncPending()) return;
        this.inBarrier = true;
      } else if (typeof target === 'number') {
        if (this.outstanding > 0 && this.activeNode !== target) return;
        if (this.outstanding >= this.maxInflight) return;
        this.activeNode = target;
      }
      this.started++;
      this.host.start(slot, target);
    }
  }

  /** `slot` went to its node (or waits on a promise): counted until it completes. */
  sent(): void {
    this.outstanding++;
  }

  /** `slot` is answered; `wasSent` when it had been counted by `sent`. */
  complete(slot: Slot, reply: ReplyBytes, target: Target, wasSent: boolean): void {
    slot.reply = reply;
    if (wasSent) this.outstanding--;
    if (target === 'barrier') this.inBarrier = false;
  }

  /** Hands out answered requests in order, from the oldest, while `take` accepts them. */
  takeAnswered(take: (slot: Slot) => boolean): void {
    for (let slot = this.slots.peek(); slot?.reply && this.started > 0; slot = this.slots.peek()) {
      this.slots.shift();
      this.started--;
      if (!take(slot)) return;
    }
  }

  /** Drops every request not started yet. */
  dropWaiting(): void {
    this.slots.truncate(this.started);
  }

  /**
   * The oldest started, unanswered request that `matches` (a reserve waiting on a node) answers
   * `reply`, and everything after it is dropped (beanstalkd never reads past a waiting reserve).
   */
  cutAt(matches: (req: Request) => boolean, reply: ReplyBytes): boolean {
    for (let i = 0; i < this.started; i++) {
      const slot = this.slots.at(i) as Slot;
      if (slot.reply || !matches(slot.req)) continue;
      slot.reply = reply;
      this.slots.truncate(i + 1);
      this.started = i + 1;
      return true;
    }
    return false;
  }
}
