/** Engine: tube lifetime and list order, use/watch/ignore, job ids, drain and session figures. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine';
import { body, Harness, statsTube } from '../support/engine-fixture';

const names = (h: Harness): string[] => h.engine.tubeList.map((t) => t.name);

describe('engine tubes', () => {
  test('tubes: list order is creation order; a dropped tube is replaced by the last one', () => {
    const h = new Harness();
    const s = h.open();
    for (const name of ['a', 'b', 'c']) h.engine.watch(s, name);
    assert.deepEqual(names(h), ['default', 'a', 'b', 'c']);
    h.engine.ignore(s, 'a');
    assert.deepEqual(names(h), ['default', 'c', 'b']);
    assert.deepEqual(
      s.watched.map((t) => t.name),
      ['default', 'c', 'b'],
    );
    assert.equal(h.engine.counts.tubes, 3);
    h.check();
  });

  test('tubes: use makes the new tube before the old one is dropped', () => {
    const h = new Harness();
    const s = h.open();
    const other = h.open();
    h.engine.use(s, 'a');
    h.engine.watch(other, 'b');
    h.engine.watch(other, 'c');
    assert.deepEqual(names(h), ['default', 'a', 'b', 'c']);
    h.engine.use(s, 'd');
    assert.deepEqual(names(h), ['default', 'd', 'b', 'c']);
    h.check();
  });

  test('tubes: using the same tube again keeps it', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 'a');
    h.engine.use(s, 'a');
    assert.deepEqual(names(h), ['default', 'a']);
    assert.equal(statsTube(h.engine, 'a')?.['current-using'], 1);
    h.check();
  });

  test('tubes: a tube lives while jobs, users or watchers refer to it; default always lives', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 't');
    const id = h.put(s);
    h.engine.use(s, 'default');
    assert.deepEqual(names(h), ['default', 't']);
    h.engine.watch(s, 't');
    const job = h.engine.reserveJob(s, id);
    assert.notEqual(job, 'NOT_FOUND');
    h.engine.ignore(s, 't');
    assert.ok(h.engine.findTube('t'), 'a reserved job keeps its tube');
    assert.equal(h.engine.delete(s, id), 'DELETED');
    assert.equal(h.engine.findTube('t'), undefined);
    h.engine.closeSession(s);
    assert.deepEqual(names(h), ['default']);
    assert.equal(h.engine.counts.tubes, 1);
    h.check();
  });

  test('tubes: a dropped tube comes back empty, with fresh counters', () => {
    const h = new Harness();
    const s = h.open();
    h.engine.use(s, 't');
    const id = h.put(s);
    h.engine.delete(s, id);
    h.engine.use(s, 'default');
    assert.equal(statsTube(h.engine, 't'), undefined);
    h.engine.use(s, 't');
    const st = statsTube(h.engine, 't');
    assert.deepEqual([st?.['total-jobs'], st?.['cmd-delete']], [0, 0]);
    h.check();
  });

  test('watch: creates the tube, counts once, and a repeat keeps the count', () => {
    const h = new Harness();
    const s = h.open();
    assert.equal(h.engine.watch(s, 'a'), 2);
    assert.equal(h.engine.watch(s, 'a'), 2);
    assert.equal(h.engine.watch(s, 'default'), 2);
    assert.equal(statsTube(h.engine, 'a')?.['current-watching'], 1);
    h.check();
  });

  test('ignore: NOT_IGNORED only for the last watched tube; unwatched names create nothing', () => {
    const h = new Harness();
    const s = h.open();
    assert.equal(h.engine.ignore(s, 'default'), 'NOT_IGNORED');
    assert.equal(h.engine.ignore(s, 'missing'), 1);
    assert.equal(h.engine.findTube('missing'), undefined);
    h.engine.watch(s, 'a');
    assert.equal(h.engine.ignore(s, 'default'), 1);
    assert.equal(h.engine.ignore(s, 'a'), 'NOT_IGNORED');
    assert.deepEqual(
      s.watched.map((t) => t.name),
      ['a'],
    );
    assert.ok(h.engine.findTube('default'), 'default is never dropped');
    h.check();
  });

  test('watch: long watch lists (past the heap threshold) still pick by (pri, id) and follow ignores', () => {
    const h = new Harness();
    const producer = h.open();
    const w = h.open();
    for (let i = 0; i < 20; i++) h.engine.watch(w, `t${i}`);
    const byTube = new Map<string, number>();
    for (const [i, pri] of [7, 3, 9, 3, 1].entries()) {
      h.engine.use(producer, `t${i * 3}`);
      byTube.set(`t${i * 3}`, h.put(producer, { pri }));
    }
    h.engine.ignore(w, 't12'); // holds the pri-1 job
    assert.equal(h.reserve(w), `RESERVED ${byTube.get('t3')}`);
    h.engine.pauseTube('t9', 1000);
    assert.equal(h.reserve(w), `RESERVED ${byTube.get('t0')}`);
    assert.equal(h.reserve(w), `RESERVED ${byTube.get('t6')}`);
    assert.equal(h.reserve(w), 'TIMED_OUT');
    h.advance(1000);
    assert.equal(h.reserve(w), `RESERVED ${byTube.get('t9')}`);
    h.check();
  });
});

describe('engine ids', () => {
  test('ids: 1, 2, 3, … in a standalone node', () => {
    const h = new Harness();
    const s = h.open();
    assert.deepEqual([h.put(s), h.put(s, { delayMs: 5 }), h.put(s)], [1, 2, 3]);
  });

  test('ids: idOffset, idOffset + idStride, … with a stride', () => {
    const h = new Harness({ idStride: 3, idOffset: 2 });
    const s = h.open();
    assert.deepEqual([h.put(s), h.put(s), h.put(s)], [2, 5, 8]);
    h.engine.setNextId(20);
    assert.equal(h.put(s), 20);
    h.engine.setNextId(22);
    assert.equal(h.put(s), 23);
    h.engine.setNextId(5);
    assert.equal(h.put(s), 26);
  });

  test('ids: an offset outside 1..stride is a programmer error', () => {
    const h = new Harness();
    assert.throws(() => new Engine({ clock: h.clock, idStride: 3, idOffset: 4 }));
    assert.throws(() => new Engine({ clock: h.clock, idStride: 3, idOffset: 0 }));
  });

  test('ids: EXPECTED_CRLF and DRAINING puts burn an id', () => {
    const h = new Harness();
    const s = h.open();
    assert.deepEqual(h.engine.put(s, 0, 0, 1000, Buffer.from('abc'), false), { word: 'EXPECTED_CRLF' });
    assert.equal(h.put(s), 2);
    h.engine.drain();
    assert.deepEqual(h.engine.put(s, 0, 0, 1000, body('x'), true), { word: 'DRAINING' });
    assert.deepEqual(h.engine.put(s, 0, 0, 1000, Buffer.from('abc'), false), { word: 'EXPECTED_CRLF' });
    h.engine.draining = false;
    assert.equal(h.put(s), 5);
    assert.equal(h.engine.counts.totalJobs, 2);
    assert.equal(statsTube(h.engine, 'default')?.['total-jobs'], 2);
    h.check();
  });
});

describe('engine drain and figures', () => {
  test('drain: only put is refused; reserve, delete and the rest keep working', () => {
    const h = new Harness();
    const s = h.open();
    const id = h.put(s);
    h.engine.drain();
    assert.equal(h.engine.draining, true);
    assert.deepEqual(h.engine.put(s, 0, 0, 1000, body('y'), true), { word: 'DRAINING' });
    assert.equal(h.engine.jobs.size, 1);
    assert.equal(h.reserve(s), `RESERVED ${id}`);
    assert.equal(h.engine.release(s, id, 0, 0), 'RELEASED');
    assert.equal(h.engine.delete(s, id), 'DELETED');
    h.check();
  });

  test('figures: urgent/ready/reserved/delayed/buried follow every transition', () => {
    const h = new Harness();
    const s = h.open();
    const a = h.put(s, { pri: 1 });
    const b = h.put(s, { pri: 2000, delayMs: 1000 });
    const c = h.put(s, { pri: 5 });
    const figures = (): number[] => {
      const n = h.engine.counts;
      return [n.urgent, n.ready, n.reserved, n.delayed, n.buried];
    };
    assert.deepEqual(figures(), [2, 2, 0, 1, 0]);
    h.reserve(s);
    assert.deepEqual(figures(), [1, 1, 1, 1, 0]);
    h.engine.bury(s, a, 3000);
    assert.deepEqual(figures(), [1, 1, 0, 1, 1]);
    h.engine.kick(s, 1);
    assert.deepEqual(figures(), [1, 2, 0, 1, 0]);
    h.advance(1000);
    assert.deepEqual(figures(), [1, 3, 0, 0, 0]);
    h.engine.delete(s, c);
    assert.deepEqual(figures(), [0, 2, 0, 0, 0]);
    h.engine.reserveJob(s, b);
    h.engine.release(s, b, 0, 0);
    assert.deepEqual(figures(), [1, 2, 0, 0, 0]);
    h.check();
  });

  test('figures: producers, workers, waiting and sessions', () => {
    const h = new Harness();
    const p = h.open();
    const w = h.open();
    const idle = h.open();
    h.engine.markProducer(p);
    h.engine.markProducer(p);
    h.reserve(w, null);
    const n = h.engine.counts;
    assert.deepEqual([n.sessions, n.producers, n.workers, n.waiting], [3, 1, 1, 1]);
    assert.equal(statsTube(h.engine, 'default')?.['current-waiting'], 1);
    h.engine.closeSession(p);
    h.engine.closeSession(w);
    assert.deepEqual([n.sessions, n.producers, n.workers, n.waiting], [1, 0, 0, 0]);
    assert.equal(statsTube(h.engine, 'default')?.['current-waiting'], 0);
    h.engine.closeSession(idle);
    assert.equal(n.sessions, 0);
    h.check();
  });
});
