/**
 * Puts from every client to one node over one shared connection (issue 18). A put needs no state
 * of the client's connection but its used tube, so the lane says `use TUBE` when the tube changes
 * and carries the puts of all clients served in one event-loop turn in one write, and the node's
 * replies to all of them come back in one read. Without it each client's put costs the proxy and
 * the node one read and one write of their own (bench/README.md: four syscalls a put through the
 * proxy, ~27 µs of its CPU).
 *
 * What stays as it was: the client's own connection to the node still uses the client's tube
 * (stats-tube current-using counts the client as one beanstalkd would), and the session's ordering
 * rule treats the lane as a node of its own (`laneTarget`), so a command after a put waits for the
 * put's reply. The lane's own `use` commands are overhead (merged stats subtract them), and the
 * lane watches only PARKING_TUBE and parks its `use` there at the end of each write, so between
 * its writes it counts in no tube a client sees: within one write (one read on the node) the node
 * runs no other connection's command.
 *
 * A stalkd node that names the `x-put` feature in its answer to the lane's own `x-hello` (sent
 * first on each lane connection, so it is the very process the puts reach) takes `x-put <tube> …`:
 * a put into a named tube, the lane's `use` untouched. The lane then never leaves the parking tube
 * and sends one command a put instead of a `use` before each (and a park after each write): half
 * the commands the node parses and answers, half the replies the proxy reads, for clients that put
 * into tubes of their own. Until that answer arrives, on stock and older nodes, and for a line too
 * long for a node (a 200-byte tube name with 10-digit numbers), puts go as above.
 */

import { LINE_MAX_BYTES } from '../../protocol/parser';
import { HelloFeature, helloHas, type Reply } from '../../protocol/reply-parser';
import { requestLine } from '../../protocol/request-line';
import { PARKING_TUBE } from '../session/node-sync';
import type { NodeChannel, NodeHandle, NodeRequest } from '../types';

/** A put the lane carries: it can name its tube in its own command line instead of a `use`. */
export interface LanePut extends NodeRequest {
  /**
   * Makes its line: `x-put <tube> …` for a tube (true), or `put …` (false) for null or when that
   * line would not fit a node's.
   */
  setLine(tube: string | null): boolean;
}

/** The longest command line a node reads, without its CRLF. */
export const MAX_NODE_LINE = LINE_MAX_BYTES - 2;

/** A channel the lane can flush itself (node/backend.ts Backend); fakes without it send at once. */
interface FlushableChannel extends NodeChannel {
  manualFlush: boolean;
  flushWrites(): void;
}

const lanes = new WeakMap<NodeHandle, PutLane>();

/** What a new lane connection sends after x-hello: it counts in no tube a client sees. */
const LEAVE_DEFAULT: readonly (readonly ['watch' | 'ignore' | 'use', string])[] = [
  ['watch', `watch ${PARKING_TUBE}`],
  ['ignore', 'ignore default'],
  ['use', `use ${PARKING_TUBE}`],
];

/** The ordering rule's target for puts through node `index`'s lane (never a node index). */
export function laneTarget(index: number): number {
  return -1 - index;
}

function ignoreReply(): void {}

function flushLane(lane: PutLane): void {
  lane.flush();
}

export class PutLane {
  private channel: NodeChannel | null = null;
  /** The tube the lane's connection uses on the node. */
  private used = PARKING_TUBE;
  /** The node on `channel` said it takes x-put. */
  private putInto = false;
  private flushQueued = false;

  private constructor(private readonly link: NodeHandle) {}

  /** Node `link`'s lane (one per node handle, made on first use). */
  static of(link: NodeHandle): PutLane {
    let lane = lanes.get(link);
    if (!lane) {
      lane = new PutLane(link);
      lanes.set(link, lane);
    }
    return lane;
  }

  /**
   * Sends the put `req` (its line and body) into `tube`; its `resolve` gets the node's reply, null
   * when the connection failed. False when the node is down (nothing was sent).
   */
  put(tube: string, req: LanePut): boolean {
    const channel = this.open();
    if (!channel) return false;
    if (!req.setLine(this.putInto ? tube : null)) this.use(channel, tube, req.timeoutMs);
    channel.submit(req);
    if (!this.flushQueued && isFlushable(channel)) {
      this.flushQueued = true;
      setImmediate(flushLane, this);
    }
    return true;
  }

  /** The end of the turn: park, then the whole turn's puts leave in one write. */
  flush(): void {
    this.flushQueued = false;
    const channel = this.channel;
    if (!channel || channel.state === 'closed' || !isFlushable(channel)) return;
    this.use(channel, PARKING_TUBE, channel.replyTimeoutMs);
    channel.flushWrites();
  }

  private use(channel: NodeChannel, tube: string, timeoutMs: number | null): void {
    if (this.used === tube) return;
    this.link.countOverhead('use');
    channel.send(`use ${tube}`, undefined, timeoutMs, ignoreReply);
    this.used = tube;
  }

  private open(): NodeChannel | null {
    const current = this.channel;
    if (current && current.state !== 'closed' && this.link.up) return current;
    if (current) this.link.releaseBackend(current);
    const channel = this.link.openBackend();
    this.channel = channel;
    this.used = PARKING_TUBE;
    this.putInto = false;
    if (!channel) return null;
    if (isFlushable(channel)) channel.manualFlush = true;
    channel.send(HELLO, undefined, channel.replyTimeoutMs, (reply) => this.hello(channel, reply));
    // A fresh connection uses and watches `default`: the lane only the parking tube, so
    // `current-using` and `current-watching` of `default` count clients alone.
    for (const [op, line] of LEAVE_DEFAULT) {
      this.link.countOverhead(op);
      channel.send(line, undefined, channel.replyTimeoutMs, ignoreReply);
    }
    return channel;
  }

  /** The node's answer to the lane's x-hello (a stock beanstalkd's is UNKNOWN_COMMAND). */
  private hello(channel: NodeChannel, reply: Reply | null): void {
    if (channel === this.channel && reply !== null && helloHas(reply.line, HelloFeature.PutInto))
      this.putInto = true;
  }
}

const HELLO = requestLine({ op: 'x-hello' });

function isFlushable(channel: NodeChannel): channel is FlushableChannel {
  return typeof (channel as Partial<FlushableChannel>).flushWrites === 'function';
}
