/**
 * Per-node state shared by all client sessions: health (up/down), the node's kind (stalkd with
 * protocol extensions, or stock beanstalkd), a shared control channel for stateless commands
 * (stats, list-tubes, stats-job, peek <id> …), every session backend open to it, and the proxy's
 * own command overhead on it (for the stats merge).
 *
 * Health follows twemproxy's server_failure / mcrouter's TKO: a node is marked down on the first
 * failed or timed-out request; while down every request for it fails at once (INTERNAL_ERROR to the
 * client) and every connection to it is closed; a probe reconnects with exponential backoff
 * (100 ms doubling to 5 s) and sends `x-hello`, which a stock beanstalkd answers UNKNOWN_COMMAND
 * (not counted in its stats) and a stalkd node `OK stalkd <version>`. While up, the control channel
 * is probed the same way every `probeIntervalMs`, so a node that accepts but never answers is
 * caught even when no client is using it.
 */
import { realTimers, type Timers } from '../../net/timers';
import type { Request } from '../../protocol/commands';
import { HELLO_PREFIX } from '../../protocol/reply-parser';
import { requestLine } from '../../protocol/request-line';
import { type CommandCounts, type CountedCommand, newCommandCounts } from '../../protocol/stats';
import { readYamlList } from '../../protocol/yaml';
import { memberAddress } from '../topology';
import { Backend, BackendFailure, type BackendOptions, type BackendResult, BackendState } from './backend';
import { type MemberRole, readMemberRole } from './member-role';
import { Shard } from './shard';

export interface NodeAddress {
  index: number;
  name: string;
  host: string;
  port: number;
}

export const NodeKind = { Unknown: 'unknown', Stock: 'stock', Stalkd: 'stalkd' } as const;
export type NodeKind = (typeof NodeKind)[keyof typeof NodeKind];

/** What the pool reports (ProxyMetricsRecorder fits). */
export interface PoolEvents {
  backendError(node: string, kind: BackendFailure): void;
  backendReconnect(node: string): void;
}

export const noPoolEvents: PoolEvents = { backendError: () => {}, backendReconnect: () => {} };

export interface PoolOptions {
  /** Reply deadline for ordinary requests and connects. */
  nodeTimeoutMs: number;
  probeIntervalMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  maxPending: number;
  /** Probe scheduling (tests inject their own). */
  timers: Timers;
}

export const defaultPoolOptions: PoolOptions = {
  nodeTimeoutMs: 3000,
  probeIntervalMs: 1000,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
  maxPending: 4096,
  timers: realTimers,
};

export class NodeLink {
  up = true;
  kind: NodeKind = NodeKind.Unknown;
  /** Times marked down (for metrics and tests). */
  failures = 0;
  lastFailure = '';
  private lastFailureKind: BackendFailure = BackendFailure.Closed;
  /** Commands the proxy sent on its own behalf (see stats-merge.ts). */
  overhead: CommandCounts = newCommandCounts();
  /**
   * Set on the node that owns `default`: the control channel then parks on this tube instead,
   * so it never shows in that tube's current-using/current-watching (session/node-sync.ts).
   */
  readonly parkControlOn: string | null;
  private control: Backend | null = null;
  private readonly backends = new Set<Backend>();
  private probeTimer: unknown = null;
  /** Delay before the next re-probe while down: backoffMinMs first, then doubling. */
  private retryDelayMs: number;
  private closed = false;
  /** Resolves after the first probe answered or failed (the proxy listens only then). */
  readonly firstProbe: Promise<void>;
  private firstProbeDone: () => void = () => {};

  constructor(
    readonly node: NodeAddress,
    private readonly options: PoolOptions,
    private readonly events: PoolEvents = noPoolEvents,
    parkControlOn: string | null = null,
  ) {
    this.parkControlOn = parkControlOn;
    this.retryDelayMs = options.backoffMinMs;
    this.firstProbe = new Promise((resolve) => {
      this.firstProbeDone = resolve;
    });
    // Directly, not on an (unref'd) timer: the probe's socket keeps a starting process alive.
    void this.probe();
  }

  /** Opens a connection for a client session; null while the node is down. */
  openBackend(): Backend | null {
    if (!this.up || this.closed) return null;
    const backend = this.connect((b, reason, kind) => {
      this.backends.delete(b);
      this.markDown(reason, kind);
    });
    this.backends.add(backend);
    return backend;
  }

  /** A session is done with a backend. */
  releaseBackend(backend: Backend): void {
    this.backends.delete(backend);
    backend.close();
  }

  /** A stateless request of the proxy's own on the shared control channel; null when down or failed. */
  controlRequest(req: Request & { op: CountedCommand }): Promise<BackendResult> {
    if (!this.up || this.closed) return Promise.resolve(null);
    this.countOverhead(req.op);
    return this.controlChannel().request(requestLine(req));
  }

  /**
   * `x-role` over the control channel (an extension, not a beanstalkd command: no overhead to
   * count); null while down, on failure, or from a node that does not answer it.
   */
  async askRole(): Promise<MemberRole | null> {
    if (!this.up || this.closed) return null;
    const reply = await this.controlChannel().request('x-role');
    return reply?.word === 'OK' && reply.body ? readMemberRole(reply.body) : null;
  }

  /**
   * Jobs the node holds as moving (`x-list-moving`, an extension: no overhead to count): 0 on a
   * stock beanstalkd, which has no such state; null while down or on failure.
   */
  async countMoving(): Promise<number | null> {
    if (!this.up || this.closed) return null;
    if (this.kind === NodeKind.Stock) return 0;
    const reply = await this.controlChannel().request('x-list-moving');
    if (reply?.word === 'OK' && reply.body) return readYamlList(reply.body).length;
    return reply?.word === 'UNKNOWN_COMMAND' ? 0 : null;
  }

  /** The proxy sends `command` on its own behalf (merged stats subtract it). */
  countOverhead(command: CountedCommand): void {
    this.overhead[command]++;
  }

  /** Closes every client session's connection here (not the control channel): see Shard.switchTo. */
  closeClientBackends(): void {
    for (const b of this.backends) b.close();
    this.backends.clear();
  }

  markDown(reason: string, kind: BackendFailure): void {
    if (this.closed) return;
    this.lastFailure = reason;
    this.lastFailureKind = kind;
    if (!this.up) return;
    this.up = false;
    this.failures++;
    this.events.backendError(this.node.name, kind);
    for (const b of this.backends) b.close();
    this.backends.clear();
    this.control?.close();
    this.control = null;
    this.retryDelayMs = this.options.backoffMinMs;
    this.scheduleRetry();
  }

  close(): void {
    this.closed = true;
    this.firstProbeDone();
    if (this.probeTimer) this.options.timers.clear(this.probeTimer);
    for (const b of this.backends) b.close();
    this.backends.clear();
    this.control?.close();
    this.control = null;
  }

  private controlChannel(): Backend {
    if (!this.control || this.control.state === BackendState.Closed) {
      this.control = this.connect((_b, reason, kind) => this.markDown(reason, kind));
      const tube = this.parkControlOn;
      if (tube) {
        const park: Request[] = [
          { op: 'use', tube },
          { op: 'watch', tube },
          { op: 'ignore', tube: 'default' },
        ];
        for (const req of park) {
          this.countOverhead(req.op as CountedCommand);
          void this.control.request(requestLine(req));
        }
      }
    }
    return this.control;
  }

  private connect(onFailure: BackendOptions['onFailure']): Backend {
    return new Backend({
      host: this.node.host,
      port: this.node.port,
      timeoutMs: this.options.nodeTimeoutMs,
      maxPending: this.options.maxPending,
      onFailure,
      onRejected: () => this.events.backendError(this.node.name, BackendFailure.Rejected),
    });
  }

  private scheduleProbe(delayMs: number): void {
    if (this.closed) return;
    const timers = this.options.timers;
    if (this.probeTimer) timers.clear(this.probeTimer);
    this.probeTimer = timers.set(() => void this.probe(), delayMs);
  }

  /** The next re-probe of a node that is down, with exponential backoff. */
  private scheduleRetry(): void {
    this.scheduleProbe(this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.options.backoffMaxMs);
  }

  private async probe(): Promise<void> {
    this.probeTimer = null;
    if (this.closed) return;
    const reply = await this.controlChannel().request(requestLine({ op: 'x-hello' }));
    this.firstProbeDone();
    if (this.closed) return;
    if (reply) {
      this.kind = reply.line.startsWith(HELLO_PREFIX) ? NodeKind.Stalkd : NodeKind.Stock;
      if (!this.up) {
        this.up = true;
        this.overhead = newCommandCounts(); // it may have restarted: its counters began again at 0
        this.events.backendReconnect(this.node.name);
      }
      this.scheduleProbe(this.options.probeIntervalMs);
      return;
    }
    // The failure that failed this probe already marked the node down (scheduling the first
    // re-probe); only a probe of a node already down schedules its own retry.
    this.markDown(this.lastFailure || 'probe failed', this.lastFailureKind);
    this.control?.close();
    this.control = null;
    if (this.probeTimer === null) this.scheduleRetry();
  }
}

/** Forwards a member's events while it is its shard's primary (always, before the shard exists). */
function eventsWhilePrimary(
  shardOf: () => Shard | undefined,
  linkOf: () => NodeLink,
  events: PoolEvents,
): PoolEvents {
  const primary = (): boolean => shardOf()?.isPrimary(linkOf()) ?? true;
  return {
    backendError: (name, kind) => {
      if (!primary()) return;
      events.backendError(name, kind);
      shardOf()?.primaryFailed();
    },
    backendReconnect: (name) => {
      if (!primary()) return;
      events.backendReconnect(name);
      shardOf()?.primaryServing();
    },
  };
}

/** A shard's entry: its identity and initial primary, and its standbys' addresses. */
export type ShardAddress = NodeAddress & { replicas?: Array<{ host: string; port: number }> };

/**
 * Every shard by index, every member link by address. A member's failures reach `events` only
 * while it is its shard's primary.
 */
export class NodePool {
  readonly shards = new Map<number, Shard>();
  /** `host:port` → link. */
  readonly members = new Map<string, NodeLink>();

  constructor(
    nodes: ShardAddress[],
    readonly options: PoolOptions = defaultPoolOptions,
    private readonly events: PoolEvents = noPoolEvents,
    /**
     * Where every control channel parks (any shard may own `default`, and which one does changes
     * with the topology), or null: it stays on `default`.
     */
    private readonly parkTube: string | null = null,
  ) {
    for (const node of nodes) this.addShard(node);
  }

  private addShard(node: ShardAddress): Shard {
    let shard: Shard | undefined;
    const links: NodeLink[] = [];
    for (const member of [node, ...(node.replicas ?? [])]) {
      const address: NodeAddress = {
        index: node.index,
        name: node.name,
        host: member.host,
        port: member.port,
      };
      const link: NodeLink = new NodeLink(
        address,
        this.options,
        eventsWhilePrimary(
          () => shard,
          () => link,
          this.events,
        ),
        this.parkTube,
      );
      links.push(link);
      this.members.set(memberAddress(address), link);
    }
    shard = new Shard(node.index, node.name, links);
    this.shards.set(node.index, shard);
    return shard;
  }

  get(index: number): Shard | undefined {
    return this.shards.get(index);
  }

  /** Shards in index order. */
  all(): Shard[] {
    return [...this.shards.values()].sort((a, b) => a.index - b.index);
  }

  /**
   * A new node set (topology reload): new indexes get a shard, shards whose name or member
   * addresses changed are replaced, shards of indexes no longer listed are closed (with their
   * sessions' connections). Resolves once every new shard answered or failed its first probe.
   */
  async update(nodes: readonly ShardAddress[]): Promise<void> {
    const wanted = new Map(nodes.map((n) => [n.index, n]));
    for (const [index, shard] of this.shards) {
      const next = wanted.get(index);
      if (next && sameShard(next, shard)) continue;
      shard.close();
      for (const m of shard.members) this.members.delete(memberAddress(m.node));
      this.shards.delete(index);
    }
    const added: Shard[] = [];
    for (const node of nodes) if (!this.shards.has(node.index)) added.push(this.addShard(node));
    await Promise.all(added.map((s) => s.firstProbe));
  }

  close(): void {
    for (const shard of this.shards.values()) shard.close();
  }
}

function sameShard(next: ShardAddress, shard: Shard): boolean {
  const addresses = [next, ...(next.replicas ?? [])].map(memberAddress);
  const current = shard.members.map((m) => memberAddress(m.node));
  return (
    next.name === shard.name &&
    addresses.length === current.length &&
    addresses.every((a) => current.includes(a))
  );
}
