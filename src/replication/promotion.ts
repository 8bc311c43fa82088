/**
 * The fence round of `x-promote` (docs/replication.md, "Promotion"): the candidate sends
 * `x-fence TERM LAST_TERM LAST_LSN MEMBER` to every peer and may lead only once enough standbys
 * have adopted its term — then the old primary cannot gather K acknowledgements any more — and
 * none of them has a more advanced log than its own. The old primary itself, fenced, counts when
 * the candidate holds its whole log.
 */
import { askPeer, formatAddress, type PeerAddress } from './peer';
import { compareLogs, type StandbyPosition } from './terms';

/** Fence answers are awaited this long. */
export const FENCE_TIMEOUT_MS = 2000;

export interface FenceRequest {
  term: number;
  lastTerm: number;
  lastLsn: number;
  member: string;
}

export interface FenceAnswer {
  address: string;
  /** `FENCED <role> <last-term> <last-lsn>`, or another line, or undefined (no answer). */
  line: string | undefined;
}

export async function fenceRound(
  peers: readonly PeerAddress[],
  req: FenceRequest,
  token: string | undefined,
): Promise<FenceAnswer[]> {
  const line = `x-fence ${req.term} ${req.lastTerm} ${req.lastLsn} ${req.member}`;
  return Promise.all(
    peers.map(async (peer) => ({
      address: formatAddress(peer),
      line: (await askPeer(peer, line, token, FENCE_TIMEOUT_MS))?.line,
    })),
  );
}

/**
 * undefined: the candidate may lead. Otherwise the refusal: `NOT_MOST_ADVANCED <address>` (a fenced
 * standby has more), `NOT_FENCED <got> <needed>`, or `TERM_NOT_HIGHER <term>` when it yielded to a
 * candidate of the same term with a more advanced log, or a peer answered that it knows a higher
 * term, or that it is itself candidate or primary at this one (a rival that did not yield).
 */
export function fenceVerdict(
  answers: readonly FenceAnswer[],
  own: StandbyPosition,
  needed: number,
  yielded: boolean,
  term: number,
): string | undefined {
  if (yielded) return `TERM_NOT_HIGHER ${term}`;
  for (const a of answers) {
    const m = /^TERM_NOT_HIGHER (\d+)(?: (\S+))?$/.exec(a.line ?? '');
    const known = Number(m?.[1]);
    if (m && (known > term || (known === term && (m[2] === 'candidate' || m[2] === 'primary'))))
      return `TERM_NOT_HIGHER ${known}`;
  }
  let fenced = 0;
  for (const a of answers) {
    const m = /^FENCED (\S+) (\d+) (\d+)$/.exec(a.line ?? '');
    if (!m) continue;
    const theirs = compareLogs({ lastTerm: Number(m[2]), lastLsn: Number(m[3]) }, own);
    if (m[1] === 'primary') {
      // The old primary stepped down at this fence, so it confirms nothing more, and everything it
      // confirmed is in its log: held whole by the candidate, that is as good as a standby fenced
      // (a primary cut off from the proxies, its other standby dead). A longer log may hold changes
      // confirmed by standbys not fenced here — or an unconfirmed tail: not counted, not a refusal.
      if (theirs <= 0) fenced++;
      continue;
    }
    fenced++;
    if (theirs > 0) return `NOT_MOST_ADVANCED ${a.address}`;
  }
  const need = Math.max(0, needed);
  return fenced < need ? `NOT_FENCED ${fenced} ${need}` : undefined;
}

/**
 * One claim to lead at a term while its fence round runs. A rival candidate fencing at the same
 * term with a more advanced log (then a higher member id) makes this claimant yield: it answers
 * `FENCED candidate …` and its own claim is refused. Once the round is decided it never yields.
 */
export class Claim {
  private fencing = false;
  private yielded = false;

  /** Runs the fence round for `req`: undefined when the claimant may lead, else the refusal. */
  async run(
    peers: readonly PeerAddress[],
    req: FenceRequest,
    token: string | undefined,
    needed: number,
    own: StandbyPosition,
  ): Promise<string | undefined> {
    this.fencing = true;
    const answers = await fenceRound(peers, req, token);
    this.fencing = false;
    const refusal = fenceVerdict(answers, own, needed, this.yielded, req.term);
    this.yielded = false;
    return refusal;
  }

  /** A rival's fence at this claim's term (this member a candidate): true when this claim yields. */
  yieldsTo(own: StandbyPosition, ownMember: string, rival: StandbyPosition, rivalMember: string): boolean {
    if (!this.fencing) return false;
    const theirs = compareLogs(rival, own);
    const yields = theirs > 0 || (theirs === 0 && rivalMember > ownMember);
    if (yields) this.yielded = true;
    return yields;
  }
}
