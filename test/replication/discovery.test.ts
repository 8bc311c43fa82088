/** Start-up's decision (docs/replication.md, "Roles, x-role, start-up"), from peers' x-role answers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideStart, type SelfView } from '../../src/replication/discovery';
import type { PeerRole } from '../../src/replication/peer';

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
  });
});
