/** Replication: term history, the handshake's decision and where a standby cuts its log. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compareLogs,
  decideHandshake,
  noteTermStart,
  type PrimaryLog,
  type TermStart,
  termEnd,
  truncationPoint,
} from '../../src/replication/terms';

function history(...starts: [number, number][]): TermStart[] {
  const h: TermStart[] = [];
  for (const [term, lsn] of starts) noteTermStart(h, term, lsn);
  return h;
}

describe('replication terms', () => {
  test('terms: consecutive segments of one term collapse; a term ends where the next began', () => {
    const h = history([1, 1], [1, 50], [3, 100], [3, 180], [4, 200]);
    assert.deepEqual(h, [
      { term: 1, firstLsn: 1 },
      { term: 3, firstLsn: 100 },
      { term: 4, firstLsn: 200 },
    ]);
    assert.equal(termEnd(h, 1, 250), 99);
    assert.equal(termEnd(h, 2, 250), 99, 'a term the log never had ends where the next began');
    assert.equal(termEnd(h, 4, 250), 250);
  });

  const primary: PrimaryLog = { history: history([2, 10], [3, 100], [5, 200]), oldestLsn: 10, lastLsn: 260 };

  test('terms: a standby in the primary history within its term streams on', () => {
    assert.deepEqual(decideHandshake(primary, { lastTerm: 5, lastLsn: 260 }), { kind: 'stream' });
    assert.deepEqual(decideHandshake(primary, { lastTerm: 3, lastLsn: 150 }), { kind: 'stream' });
    assert.deepEqual(decideHandshake(primary, { lastTerm: 3, lastLsn: 199 }), { kind: 'stream' });
  });

  test('terms: a tail past the end of its term on the primary is cut there', () => {
    assert.deepEqual(decideHandshake(primary, { lastTerm: 3, lastLsn: 230 }), {
      kind: 'truncate',
      term: 3,
      lsn: 199,
    });
  });

  test('terms: a last term the primary never had is cut back to the term before it (Kafka leader epochs)', () => {
    // The standby was promoted to 4, wrote a little, died; the primary went on at 5.
    assert.deepEqual(decideHandshake(primary, { lastTerm: 4, lastLsn: 150 }), {
      kind: 'truncate',
      term: 3,
      lsn: 199,
    });
    const standby: PrimaryLog = {
      history: history([2, 10], [3, 100], [4, 140]),
      oldestLsn: 10,
      lastLsn: 150,
    };
    assert.equal(truncationPoint(standby, 3, 199), 139, 'its own term-3 records end at 139');
    assert.deepEqual(decideHandshake(primary, { lastTerm: 3, lastLsn: 139 }), { kind: 'stream' });
  });

  test('terms: no log, a term older than every retained segment or a lost position → full copy', () => {
    assert.equal(decideHandshake(primary, { lastTerm: 0, lastLsn: 0 }).kind, 'full-copy');
    assert.equal(decideHandshake(primary, { lastTerm: 1, lastLsn: 8 }).kind, 'full-copy');
    const trimmed: PrimaryLog = { ...primary, oldestLsn: 120 };
    assert.equal(decideHandshake(trimmed, { lastTerm: 3, lastLsn: 110 }).kind, 'full-copy');
    assert.equal(decideHandshake(trimmed, { lastTerm: 3, lastLsn: 119 }).kind, 'stream');
    assert.equal(
      decideHandshake(primary, { lastTerm: 5, lastLsn: 150 }).kind,
      'full-copy',
      'disagreeing logs',
    );
  });

  test('terms: logs compare by last term, then last LSN', () => {
    assert.ok(compareLogs({ lastTerm: 4, lastLsn: 1 }, { lastTerm: 3, lastLsn: 900 }) > 0);
    assert.ok(compareLogs({ lastTerm: 3, lastLsn: 10 }, { lastTerm: 3, lastLsn: 11 }) < 0);
    assert.equal(compareLogs({ lastTerm: 3, lastLsn: 10 }, { lastTerm: 3, lastLsn: 10 }), 0);
  });
});
