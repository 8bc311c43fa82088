/**
 * One shard as the proxy's sessions see it: a primary plus its standbys (docs/replication.md), all
 * under the shard's name and index. Sessions, fan-out and reserves talk to the shard; the shard
 * sends them to its current primary's member link (node-pool.ts NodeLink, one per member
 * address). A shard without replicas is one member, which is always its primary.
 *
 * Only the current primary's failures and recoveries are reported to the pool's events (metrics,
 * node down/up log lines): a standby is not where clients' commands go.
 */
import type { Request } from '../../protocol/commands';
import type { CommandCounts, CountedCommand } from '../../protocol/stats';
import { memberAddress } from '../topology';
import type { NodeChannel } from '../types';
import type { Backend, BackendResult } from './backend';
import type { NodeAddress, NodeLink } from './node-pool';

export class Shard {
  private current: NodeLink;
  /** Called when the current primary fails (the failover watch starts its clock). */
  onPrimaryFailure: (() => void) | null = null;
  /** Resolved when the shard serves again: its primary came back, or another took over. */
  private serving: Array<() => void> = [];

  constructor(
    readonly index: number,
    readonly name: string,
    /** Every member, the topology's order: the entry's own address (the initial primary) first. */
    readonly members: readonly NodeLink[],
  ) {
    const first = members[0];
    if (!first) throw new Error(`shard ${name} has no member`);
    this.current = first;
  }

  /** The member commands go to now. */
  get primary(): NodeLink {
    return this.current;
  }

  /** The shard's identity with its current primary's address. */
  get node(): NodeAddress {
    return this.current.node;
  }

  get up(): boolean {
    return this.current.up;
  }

  get kind(): string {
    return this.current.kind;
  }

  get overhead(): CommandCounts {
    return this.current.overhead;
  }

  /** Resolves once every member answered (or failed) its first probe. */
  get firstProbe(): Promise<void> {
    return Promise.all(this.members.map((m) => m.firstProbe)).then(() => undefined);
  }

  /** True when `link` is the member commands go to. */
  isPrimary(link: NodeLink): boolean {
    return link === this.current;
  }

  /** A member by its address (`host:port`). */
  member(address: string): NodeLink | undefined {
    return this.members.find((m) => memberAddress(m.node) === address);
  }

  /** True when the shard has replicas (a failover can move it). */
  get replicated(): boolean {
    return this.members.length > 1;
  }

  /** Resolves once the shard serves again after a failure (see primaryServing, switchTo). */
  whenServing(): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve) => this.serving.push(resolve));
  }

  /** The current primary failed (node-pool.ts reports it). */
  primaryFailed(): void {
    this.onPrimaryFailure?.();
  }

  /** The current primary answers again, or a new one was switched to. */
  primaryServing(): void {
    for (const resolve of this.serving.splice(0)) resolve();
  }

  openBackend(): NodeChannel | null {
    return this.current.openBackend();
  }

  releaseBackend(channel: NodeChannel): void {
    // The member that opened it may no longer be the primary; releasing elsewhere is a no-op.
    for (const m of this.members) m.releaseBackend(channel as Backend);
  }

  controlRequest(req: Request & { op: CountedCommand }): Promise<BackendResult> {
    return this.current.controlRequest(req);
  }

  countMoving(): Promise<number | null> {
    return this.current.countMoving();
  }

  countOverhead(command: CountedCommand): void {
    this.current.countOverhead(command);
  }

  /**
   * Sends the shard's traffic to `link` from now on. Every client connection to the former primary
   * is closed (their requests fail with INTERNAL_ERROR, their reservations end there), so sessions
   * open new ones to `link` with their state brought in line (session/node-sync.ts).
   */
  switchTo(link: NodeLink): void {
    if (link === this.current || !this.members.includes(link)) return;
    const former = this.current;
    this.current = link;
    former.closeClientBackends();
    if (link.up) this.primaryServing();
  }

  close(): void {
    this.primaryServing();
    for (const m of this.members) m.close();
  }
}
