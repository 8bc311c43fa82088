/**
 * The crash harness's ledger (test/support/crash-ledger.ts) fed by hand: each fault the crash tests
 * exist to find is reported, in the words of issue 13, and what a crash may legitimately do (lose an
 * unanswered put, undo an unanswered change, bring a reserved job back ready) is not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CrashLedger, type FoundJob, singleNodeIds } from '../support/crash-ledger';

const ledger = (): CrashLedger => new CrashLedger(singleNodeIds, () => 0, 1);
const body = (text: string): Buffer => Buffer.from(text);

function found(id: number, text: string, state = 'ready', pri = 0, tube = 'crash0'): [number, FoundJob] {
  return [id, { id, body: body(text), tube, state, pri }];
}

/** A put answered INSERTED id. */
function inserted(l: CrashLedger, id: number, text: string, pri = 0, delaySecs = 0, tube = 'crash0') {
  const put = l.putSent('c0', tube, pri, delaySecs, body(text));
  l.putReplied(put, `INSERTED ${id}`);
  return put;
}

const texts = (l: CrashLedger): string[] => l.violations.map((v) => v.text);

describe('crash ledger', () => {
  it('crash ledger: an id answered for two puts is reported with both puts', () => {
    const l = ledger();
    inserted(l, 7, 'first');
    inserted(l, 7, 'second');
    assert.deepEqual(texts(l), ['id 7 handed out for put #2 (c0) but it belonged to put #1, still present']);
  });

  it('crash ledger: after a restart a new id must lie above every id seen before, reserved ones included', () => {
    const l = ledger();
    inserted(l, 1, 'a');
    const unanswered = l.putSent('c1', 'crash0', 0, 0, body('b'));
    assert.ok(l.reserved('c2', 3, body('b')), 'a RESERVED binds the unanswered put');
    l.nodeKilled(0);
    l.reconcile(0, new Map([found(1, 'a')])); // put 'b' was never logged: allowed, it was never answered
    assert.equal(unanswered.status, 'lost');
    assert.deepEqual(texts(l), []);
    l.round = 1;
    inserted(l, 2, 'c');
    inserted(l, 3, 'd');
    assert.deepEqual(texts(l), [
      'put #3 (c0) answered INSERTED 2: not above id 3, seen before the restart (ids must increase; later ids of this life not reported)',
      'id 3 handed out for put #4 (c0) but it belonged to put #2, lost in a crash before its INSERTED',
    ]);
  });

  it('crash ledger: an acknowledged delete that comes back is a resurrection, with what differs', () => {
    const l = ledger();
    inserted(l, 3, 'x'.repeat(893), 0, 0, 'crash1');
    const job = l.reserved('c1', 3, body('x'.repeat(893)));
    assert.ok(job);
    l.changeReplied(l.changeSent(job, 'c1', 'delete 3', 'DELETED', 'deleted', 0), 'DELETED');
    l.nodeKilled(0);
    l.reconcile(0, new Map([found(3, 'y'.repeat(1165), 'ready', 1024, 'crash0')]));
    assert.deepEqual(texts(l), [
      'job 3: resurrected (its delete was acknowledged)',
      "job 3: body 1165 bytes != 893 put, tube 'crash0' != 'crash1', pri 1024 != 0 (put #1)",
    ]);
  });

  it('crash ledger: a job reserved after its delete was acknowledged, or with another body, is reported', () => {
    const l = ledger();
    inserted(l, 4, 'four');
    inserted(l, 5, 'five');
    const job = l.reserved('c1', 4, body('four'));
    assert.ok(job);
    l.changeReplied(l.changeSent(job, 'c1', 'delete 4', 'DELETED', 'deleted', 0), 'DELETED');
    assert.equal(l.reserved('c2', 4, body('four')), undefined);
    assert.equal(l.reserved('c2', 5, body('not five')), undefined);
    assert.deepEqual(texts(l), [
      'reserved 4, whose delete had been acknowledged (put #1; deleted (delete 4 by c1 in round 0, acknowledged))',
      'reserved 5: body differs from what was put (8 bytes, put #2 had 4)',
    ]);
  });

  it('crash ledger: an acknowledged put missing after a restart is lost; a changed priority or state is reported', () => {
    const l = ledger();
    inserted(l, 1, 'kept', 1);
    inserted(l, 2, 'gone');
    const job = l.reserved('c1', 1, body('kept'));
    assert.ok(job);
    l.changeReplied(l.changeSent(job, 'c1', 'bury 1 5', 'BURIED', 'buried', 5), 'BURIED');
    l.nodeKilled(0);
    l.reconcile(0, new Map([found(1, 'kept', 'ready', 5)]));
    assert.deepEqual(texts(l), [
      'job 1: ready pri 5, expected buried pri 5 (bury 1 5 by c1 in round 0, acknowledged) (put #1)',
      'job 2: lost (put #2; ready pri 0 (put #2, acknowledged))',
    ]);
  });

  it('crash ledger: a job no put could have produced is reported', () => {
    const l = ledger();
    l.putSent('c0', 'crash0', 0, 0, body('unanswered'));
    l.nodeKilled(0);
    l.reconcile(0, new Map([found(9, 'something else')]));
    assert.deepEqual(texts(l), [
      "job 9: no put could have produced it (tube 'crash0', ready pri 0, 14 bytes)",
    ]);
  });

  it('crash ledger: what a crash may do is not a violation', () => {
    const l = ledger();
    inserted(l, 1, 'delayed', 2, 3);
    inserted(l, 2, 'reserved', 4);
    inserted(l, 3, 'release in flight', 6);
    const unansweredKept = l.putSent('c0', 'crash0', 9, 0, body('unanswered, logged'));
    l.putSent('c0', 'crash0', 9, 0, body('unanswered, not logged'));
    assert.ok(l.reserved('c1', 2, body('reserved')));
    const job3 = l.reserved('c2', 3, body('release in flight'));
    assert.ok(job3);
    l.changeSent(job3, 'c2', 'release 3 7 0', 'RELEASED', 'ready', 7);
    l.nodeKilled(0);
    l.reconcile(
      0,
      new Map([
        found(1, 'delayed', 'ready', 2), // its delay ran out while the node was down
        found(2, 'reserved', 'ready', 4), // the reservation died with the node
        found(3, 'release in flight', 'ready', 6), // the release never made it to the log
        found(4, 'unanswered, logged', 'ready', 9),
      ]),
    );
    assert.deepEqual(texts(l), []);
    assert.equal(unansweredKept.id, 4, 'the found job is bound to its put');
  });

  it('crash ledger: puts with equal bodies are interchangeable until their INSERTED comes', () => {
    const l = ledger();
    const a = l.putSent('c0', 'crash0', 0, 0, Buffer.alloc(0));
    const b = l.putSent('c1', 'crash1', 0, 0, Buffer.alloc(0));
    assert.ok(l.reserved('c2', 11, Buffer.alloc(0)), 'bound to the oldest candidate, a');
    l.putReplied(b, 'INSERTED 11');
    l.putReplied(a, 'INSERTED 10');
    const c = l.putSent('c0', 'crash0', 0, 0, Buffer.alloc(0));
    const d = l.putSent('c1', 'crash1', 0, 0, Buffer.alloc(0));
    assert.ok(l.reserved('c2', 13, Buffer.alloc(0)), 'bound to the oldest candidate, c');
    l.putReplied(c, 'INSERTED 12');
    l.putReplied(d, 'INSERTED 13');
    assert.deepEqual(texts(l), []);
    assert.deepEqual([a.id, b.id, c.id, d.id], [10, 11, 12, 13]);
  });

  it('crash ledger: equal-body puts whose RESERVEDs were both paired crosswise are swapped by their INSERTEDs', () => {
    const l = ledger();
    const a = l.putSent('c0', 'crash0', 0, 0, Buffer.alloc(0));
    const b = l.putSent('c0', 'crash0', 0, 0, Buffer.alloc(0));
    assert.ok(l.reserved('c1', 11, Buffer.alloc(0)), 'bound to the oldest candidate, a');
    assert.ok(l.reserved('c2', 10, Buffer.alloc(0)), 'bound to the only candidate left, b');
    l.putReplied(a, 'INSERTED 10');
    l.putReplied(b, 'INSERTED 11');
    assert.deepEqual(texts(l), []);
    assert.deepEqual([a.id, b.id], [10, 11]);
    inserted(l, 11, 'another'); // the ids are bound for good now
    assert.deepEqual(texts(l), ['id 11 handed out for put #3 (c0) but it belonged to put #2, still present']);
  });

  it("crash ledger: NOT_FOUND to a former holder is a violation until its job's node is struck, then a change not made", () => {
    const l = ledger();
    inserted(l, 4, 'kept');
    inserted(l, 5, 'refused');
    const before = l.reserved('c1', 4, body('kept'));
    assert.ok(before);
    l.changeReplied(l.changeSent(before, 'c1', 'delete 4', 'DELETED', 'deleted', 0), 'NOT_FOUND');
    assert.deepEqual(texts(l), ["delete 4 (c1, job of put #1): answered 'NOT_FOUND'"]);
    const held = l.reserved('c1', 5, body('refused'));
    assert.ok(held);
    l.nodeStruck(0); // the reservation ends with the node's connection
    l.changeReplied(l.changeSent(held, 'c1', 'delete 5', 'DELETED', 'deleted', 0), 'NOT_FOUND');
    l.nodeKilled(0);
    l.connectionsClosed();
    l.reconcile(0, new Map([found(5, 'refused')])); // still there: the delete was not made
    assert.equal(texts(l).length, 1, texts(l).join('\n'));
  });
});
