/**
 * What the node server sees of replication (docs/replication.md): whether changing commands may
 * run here, the role for `x-role`, and the member's answers to `x-promote`, `x-fence` and
 * `x-replicate`. src/replication's Member implements it; a node without `--shard-peers` is
 * `standalone`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ReplicateRequest } from '../protocol/commands';

export const Role = {
  Primary: 'primary',
  Standby: 'standby',
  Candidate: 'candidate',
  Standalone: 'standalone',
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.values(Role);

/** One standby as its primary sees it. */
export interface StandbyView {
  member: string;
  address: string;
  inSync: boolean;
  lagRecords: number;
  lagBytes: number;
  lagSeconds: number;
}

/** Everything `x-role` and the metrics show of a member. */
export interface RoleView {
  role: Role;
  term: number;
  lastTerm: number;
  lastLsn: number;
  durableLsn: number;
  /** Primary: the composite durable LSN. */
  confirmedLsn: number;
  /** Standby: in sync with its primary; primary: not alone. */
  inSync: boolean;
  /** Standby: the address it follows ('' while it has none). */
  primary: string;
  syncStandbys: number;
  inSyncStandbys: number;
  standbys: readonly StandbyView[];
  /** Standby: behind its primary by. */
  lagRecords: number;
  lagBytes: number;
  lagSeconds: number;
  shard: string;
  member: string;
  /** Primary: confirmations held for standbys. */
  waiting: boolean;
  /** Primary: going on alone after --standby-timeout-ms. */
  alone: boolean;
  /** Standby without a primary: it would lead were none found (start-up's tie-break). */
  mayLead: boolean;
  catchUps: { sent: number; received: number };
  fullCopies: { sent: number; received: number };
}

export interface ShardControl {
  /** Commands that change jobs or tubes may run here (a primary, or a node without replication). */
  readonly writable: boolean;
  /** --shard-token: x-replicate, x-promote and x-fence need `x-auth` first. */
  readonly token: string | undefined;
  view(): RoleView;
  /** `x-promote TERM [force]`: the reply line. */
  promote(term: number, force: boolean): Promise<string>;
  /** `x-fence TERM LAST_TERM LAST_LSN MEMBER`: the reply line. */
  fence(term: number, lastTerm: number, lastLsn: number, member: string): string;
  /** `x-replicate …`: the socket is the member's from now on (it writes the answer line). */
  replicate(socket: Socket, leftover: Buffer, req: ReplicateRequest): void;
  /**
   * LSN a reply naming job `id` waits for (its put record confirmed): a client never sees an id
   * that a promoted standby might not know and hand out again. 0: no wait.
   */
  putLsnOf(id: number): number;
  /** The node stops: replication streams end (their sockets were the listener's). */
  stop(): void;
}

export function idleRoleView(role: Role): RoleView {
  return {
    role,
    term: 0,
    lastTerm: 0,
    lastLsn: 0,
    durableLsn: 0,
    confirmedLsn: 0,
    inSync: false,
    primary: '',
    syncStandbys: 0,
    inSyncStandbys: 0,
    standbys: [],
    lagRecords: 0,
    lagBytes: 0,
    lagSeconds: 0,
    shard: '',
    member: '',
    waiting: false,
    alone: false,
    mayLead: false,
    catchUps: { sent: 0, received: 0 },
    fullCopies: { sent: 0, received: 0 },
  };
}

/** A node without --shard-peers: everything is allowed, nothing is replicated. */
export const STANDALONE: ShardControl = {
  writable: true,
  token: undefined,
  view: () => idleRoleView(Role.Standalone),
  promote: async () => 'NOT_STANDBY',
  fence: () => 'NOT_REPLICATED',
  replicate(socket) {
    socket.end('NOT_PRIMARY\r\n');
  },
  putLsnOf: () => 0,
  stop() {},
};

/** `x-role`'s YAML (docs/replication.md, "Roles, x-role, start-up"). */
export function roleYaml(v: RoleView): string {
  const lines = [
    '---',
    `role: ${v.role}`,
    `term: ${v.term}`,
    `last-term: ${v.lastTerm}`,
    `last-lsn: ${v.lastLsn}`,
    `durable-lsn: ${v.durableLsn}`,
    `confirmed-lsn: ${v.confirmedLsn}`,
    `in-sync: ${v.inSync}`,
    `primary: "${v.primary}"`,
    `sync-standbys: ${v.syncStandbys}`,
    `in-sync-standbys: ${v.inSyncStandbys}`,
    `standbys: ${v.standbys.length}`,
    `lag-records: ${v.lagRecords}`,
    `lag-bytes: ${v.lagBytes}`,
    `lag-seconds: ${v.lagSeconds.toFixed(3)}`,
    `shard: "${v.shard}"`,
    `member: "${v.member}"`,
    `may-lead: ${v.mayLead}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
