/**
 * What the proxy reads of a member's `x-role` (docs/replication.md, "Roles, x-role, start-up"):
 * its role and term, its log position, whether it is in sync, and for a primary how many standbys
 * are. `x-promote` answers are words (PROMOTED, TERM_NOT_HIGHER …), read by the caller.
 */
import { readYamlMap } from '../../protocol/yaml';

export const MemberRoleName = {
  Primary: 'primary',
  Standby: 'standby',
  Candidate: 'candidate',
  Standalone: 'standalone',
} as const;

export interface MemberRole {
  role: string;
  term: number;
  lastTerm: number;
  lastLsn: number;
  /** Standby: in sync with its primary; primary: not going on alone. */
  inSync: boolean;
  /** Primary: K and how many standbys are in sync now. */
  syncStandbys: number;
  inSyncStandbys: number;
  /** Standby: behind its primary by (records, seconds). */
  lagRecords: number;
  lagSeconds: number;
  /** Primary: the composite LSN its confirmations have reached. */
  confirmedLsn: number;
}

/** Reads `x-role`'s YAML; null when a key the proxy decides on is missing or not a number. */
export function readMemberRole(body: Buffer): MemberRole | null {
  const map = readYamlMap(body);
  const num = (key: string): number => {
    const v = map[key];
    return v === undefined || v === '' ? Number.NaN : Number(v);
  };
  const role: MemberRole = {
    role: map.role ?? '',
    term: num('term'),
    lastTerm: num('last-term'),
    lastLsn: num('last-lsn'),
    inSync: map['in-sync'] === 'true',
    syncStandbys: num('sync-standbys') || 0,
    inSyncStandbys: num('in-sync-standbys') || 0,
    lagRecords: num('lag-records') || 0,
    lagSeconds: num('lag-seconds') || 0,
    confirmedLsn: num('confirmed-lsn') || 0,
  };
  const whole = [role.term, role.lastTerm, role.lastLsn].every((n) => Number.isSafeInteger(n) && n >= 0);
  return role.role !== '' && whole ? role : null;
}

/** More advanced log first: (last-term, last-lsn) compared in that order. */
export function compareLogs(a: MemberRole, b: MemberRole): number {
  return b.lastTerm - a.lastTerm || b.lastLsn - a.lastLsn;
}
