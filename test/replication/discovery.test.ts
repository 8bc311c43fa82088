/** Start-up's decision (docs/replication.md, "Roles, x-role, start-up"), from peers' x-role answers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideStart, type SelfView } from '../../src/replication/discovery';
import type { PeerRole } from '../../src/replication/peer';
import { type FenceAnswer, fenceVerdict } from '../../src/replication/promotion';

const fresh: SelfView = {
  term: 0,
  lastTerm: 0,
  lastLsn: 0,
  mayLead: true,
  syncStandbys: 1,
  member: 'bb',
  peerCount: 2,
};

function peer(address: string, fields: Partial<PeerRole> = {}): PeerRole {
  return {
    address,
    role: 'standby',
    term: 0,
    lastTerm: 0,
    lastLsn: 0,
    member: 'cc',
    mayLead: false,
    ...fields,
  };
}

describe('replication start-up', () => {
  test('a first start leads at term 1 only once every peer answered', () => {
    assert.deepEqual(decideStart(fresh, [peer('a:1')]), {
      kind: 'wait',
      reason: 'first start: 1 of 2 peers answered',
    });
    assert.deepEqual(decideStart(fresh, [peer('a:1'), peer('a:2', { member: 'dd' })]), {
      kind: 'lead',
      term: 1,
    });
  });

  test('of two members that may lead a first start, only the lower member id leads; the other then follows', () => {
    const low = peer('a:1', { member: 'aa', mayLead: true });
    assert.deepEqual(decideStart(fresh, [low, peer('a:2')]), {
      kind: 'wait',
      reason: 'a:1 may lead too and has the lower member id',
    });
    const high = peer('a:1', { member: 'ee', mayLead: true });
    assert.deepEqual(decideStart(fresh, [high, peer('a:2')]), { kind: 'lead', term: 1 });
    assert.deepEqual(
      decideStart(fresh, [{ ...low, role: 'primary', term: 1, mayLead: false }, peer('a:2')]),
      {
        kind: 'follow',
        address: 'a:1',
        term: 1,
      },
    );
  });

  test('a member that may lead defers to a peer with data or a higher term, and a non-first start needs only K', () => {
    assert.equal(decideStart(fresh, [peer('a:1', { lastTerm: 1, lastLsn: 9 }), peer('a:2')]).kind, 'wait');
    assert.equal(decideStart(fresh, [peer('a:1', { term: 3 }), peer('a:2')]).kind, 'wait');
    const restarted: SelfView = { ...fresh, term: 2, lastTerm: 2, lastLsn: 40 };
    assert.deepEqual(decideStart(restarted, [peer('a:1', { term: 2, lastTerm: 2, lastLsn: 40 })]), {
      kind: 'lead',
      term: 3,
    });
    assert.equal(decideStart({ ...fresh, mayLead: false }, [peer('a:1'), peer('a:2')]).kind, 'wait');
    // Five members, K = 1: the fence round that follows needs 3 of the 4 peers.
    const ofFive: SelfView = { ...restarted, peerCount: 4 };
    assert.deepEqual(decideStart(ofFive, [peer('a:1'), peer('a:2')]), {
      kind: 'wait',
      reason: '2 of the 3 peers needed answered',
    });
    assert.equal(decideStart(ofFive, [peer('a:1'), peer('a:2'), peer('a:3')]).kind, 'lead');
  });

  test('a restarted member that may lead waits while a peer is a candidate, even one whose term it missed', () => {
    const restarted: SelfView = { ...fresh, term: 1, lastTerm: 1, lastLsn: 40 };
    assert.deepEqual(
      decideStart(restarted, [peer('a:1', { role: 'candidate', term: 1, lastTerm: 1 }), peer('a:2')]),
      {
        kind: 'wait',
        reason: 'a:1 is a candidate at term 1',
      },
    );
  });
});

describe('the fence verdict (start-up claims and x-promote alike)', () => {
  const own = { lastTerm: 1, lastLsn: 40 };
  const answers = (...lines: string[]): FenceAnswer[] =>
    lines.map((line, i) => ({ address: `a:${i}`, line }));

  test('a rival at the same term that did not yield, or a peer at a higher term, refuses the claim', () => {
    assert.equal(
      fenceVerdict(answers('FENCED standby 1 40', 'TERM_NOT_HIGHER 2 primary'), own, 1, false, 2),
      'TERM_NOT_HIGHER 2',
    );
    assert.equal(
      fenceVerdict(answers('FENCED standby 1 40', 'TERM_NOT_HIGHER 2 candidate'), own, 1, false, 2),
      'TERM_NOT_HIGHER 2',
    );
    assert.equal(
      fenceVerdict(answers('FENCED standby 1 40', 'TERM_NOT_HIGHER 3 standby'), own, 0, false, 2),
      'TERM_NOT_HIGHER 3',
    );
    // Without a quorum to fence (K = N − 1) the rival's answer is what keeps two from leading.
    assert.equal(fenceVerdict(answers('TERM_NOT_HIGHER 2 candidate'), own, 0, false, 2), 'TERM_NOT_HIGHER 2');
  });

  test('a standby that already knows the term is only not fenced; a yielding candidate counts', () => {
    assert.equal(
      fenceVerdict(answers('FENCED candidate 1 40', 'TERM_NOT_HIGHER 2 standby'), own, 1, false, 2),
      undefined,
    );
    assert.equal(
      fenceVerdict(answers('TERM_NOT_HIGHER 2 standby', 'TERM_NOT_HIGHER 2 standby'), own, 1, false, 2),
      'NOT_FENCED 0 1',
    );
    assert.equal(fenceVerdict(answers('FENCED standby 1 40'), own, 1, true, 2), 'TERM_NOT_HIGHER 2');
  });

  test('the old primary fenced counts when the candidate holds its whole log (it stepped down; all it confirmed is there)', () => {
    // A primary cut off from the proxies and a standby dead: the old primary is the only peer left.
    assert.equal(fenceVerdict(answers('FENCED primary 1 40', 'NO_ANSWER'), own, 1, false, 2), undefined);
    assert.equal(fenceVerdict(answers('FENCED primary 1 39'), own, 1, false, 2), undefined);
    // Its log is longer: what it confirmed may be missing here; it does not count, and is no reason
    // to refuse NOT_MOST_ADVANCED (its tail may be unconfirmed).
    assert.equal(fenceVerdict(answers('FENCED primary 1 41'), own, 1, false, 2), 'NOT_FENCED 0 1');
    assert.equal(
      fenceVerdict(answers('FENCED primary 1 41', 'FENCED standby 1 40'), own, 1, false, 2),
      undefined,
    );
  });
});
