/**
 * Start-up, and whenever a member has no primary to follow (docs/replication.md, "Roles, x-role,
 * start-up"): from its peers' `x-role` answers, follow the primary with the highest term that is not
 * below its own, or lead at a new term when it may, or wait. A first start (empty log, term 0) waits
 * for every peer, and of several members that may lead with equal logs only the lowest member id
 * does: two members started without --standby never both lead. "Lead" is a claim, not a verdict:
 * the member then runs x-promote's fence round for that term (member.ts).
 */
import type { PeerRole } from './peer';
import { compareLogs } from './terms';

export interface SelfView {
  /** Known term. */
  term: number;
  lastTerm: number;
  lastLsn: number;
  /** It was the primary of the term its log ends with, or this is a first start without --standby. */
  mayLead: boolean;
  syncStandbys: number;
  /** Its member id (the tie-break). */
  member: string;
  /** How many peers it has (--shard-peers). */
  peerCount: number;
}

export type StartDecision =
  | { kind: 'follow'; address: string; term: number }
  | { kind: 'lead'; term: number }
  | { kind: 'wait'; reason: string };

/** `peers`: the peers that answered. */
export function decideStart(self: SelfView, peers: readonly PeerRole[]): StartDecision {
  let best: PeerRole | undefined;
  for (const p of peers)
    if (p.role === 'primary' && p.term >= self.term && (best === undefined || p.term > best.term)) best = p;
  if (best !== undefined) return { kind: 'follow', address: best.address, term: best.term };
  if (!self.mayLead)
    return { kind: 'wait', reason: 'no primary among the peers, and this member may not lead' };
  const candidate = peers.find((p) => p.role === 'candidate');
  if (candidate !== undefined)
    return { kind: 'wait', reason: `${candidate.address} is a candidate at term ${candidate.term}` };
  if (self.term === 0 && self.lastLsn === 0 && peers.length < self.peerCount)
    return { kind: 'wait', reason: `first start: ${peers.length} of ${self.peerCount} peers answered` };
  // K to notice a promotion made while it was gone; N − 1 − K for the fence round that follows.
  const needed = Math.max(self.syncStandbys, self.peerCount - self.syncStandbys);
  if (peers.length < needed)
    return { kind: 'wait', reason: `${peers.length} of the ${needed} peers needed answered` };
  const higher = peers.find((p) => p.term > self.term);
  if (higher !== undefined)
    return {
      kind: 'wait',
      reason: `${higher.address} knows term ${higher.term}, above this member's ${self.term}`,
    };
  const ahead = peers.find((p) => compareLogs(p, self) > 0);
  if (ahead !== undefined) {
    return {
      kind: 'wait',
      reason: `${ahead.address} has a more advanced log (term ${ahead.lastTerm}, LSN ${ahead.lastLsn})`,
    };
  }
  const rival = peers.find((p) => p.mayLead && compareLogs(p, self) === 0 && p.member < self.member);
  if (rival !== undefined)
    return { kind: 'wait', reason: `${rival.address} may lead too and has the lower member id` };
  let term = self.term;
  for (const p of peers) if (p.term > term) term = p.term;
  return { kind: 'lead', term: term + 1 };
}
