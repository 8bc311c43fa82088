/** Engine: the job table under churn — slots reused, the table shrinking, records moving; views. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type JobRecord, JobState } from '../../src/engine/journal';
import { Harness, prng } from '../support/engine-fixture';

describe('engine job table', () => {
  test('job table: when most jobs go it shrinks; ready, delayed, buried and reserved survivors keep everything', () => {
    const h = new Harness();
    const { engine } = h;
    const producer = h.open();
    const worker = h.open();
    const rand = prng(5);
    const tubes = ['a', 'b', 'c'];
    for (const name of tubes) engine.watch(worker, name);
    const text = new Map<number, string>();
    for (let i = 0; i < 3000; i++) {
      engine.use(producer, tubes[i % 3] as string);
      const body = `job ${i} ${'x'.repeat(Math.floor(rand() * 300))}`;
      const id = h.put(producer, {
        pri: Math.floor(rand() * 5),
        delayMs: i % 7 === 0 ? 60_000 : 0,
        text: body,
      });
      text.set(id, body);
    }
    // Some reserved, some of those buried: every state is present.
    for (let i = 0; i < 400; i++) {
      const outcome = engine.reserve(worker, 0);
      assert.equal(outcome?.type, 'reserved');
      if (outcome?.type === 'reserved' && i % 2 === 0) engine.bury(worker, outcome.job.id, 7);
    }
    const peak = engine.table.capacity;
    const ids = [...text.keys()];
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
    }
    let deleted = 0;
    for (const id of ids.slice(0, 2950)) {
      assert.equal(engine.delete(worker, id), 'DELETED');
      text.delete(id);
      if (++deleted % 97 === 0) h.check();
    }
    h.check();
    assert.ok(engine.table.capacity < peak / 8, `${engine.table.capacity} slots left of ${peak}`);
    assert.ok(engine.table.arena.capacityBytes <= 2 * engine.table.arena.liveBytes + 256 * 1024);
    for (const [id, body] of text) {
      const job = engine.peek(id);
      assert.equal(job?.bodyWithCrlf.toString(), `${body}\r\n`, `job ${id} body`);
      assert.equal(job?.bodyBytes, body.length);
    }
    // Everything still works on the moved jobs: kick the buried, then take every job in order.
    for (const name of tubes) {
      engine.use(producer, name);
      engine.kick(producer, 1000);
    }
    h.clock.advance(60_000);
    engine.tick();
    engine.closeSession(worker); // its reservations go back to ready
    const taker = h.open();
    for (const name of tubes) engine.watch(taker, name);
    const order: number[] = [];
    for (
      let outcome = engine.reserve(taker, 0);
      outcome?.type === 'reserved';
      outcome = engine.reserve(taker, 0)
    )
      order.push(outcome.job.id);
    assert.equal(order.length, text.size);
    const expected = [...text.keys()].sort((a, b) => {
      const pa = engine.peek(a)?.pri ?? 0;
      const pb = engine.peek(b)?.pri ?? 0;
      return pa - pb || a - b;
    });
    assert.deepEqual(order, expected);
    h.check();
  });

  test('job table: big bodies are kept whole (a view of a bigger buffer is copied) and follow their job', () => {
    const h = new Harness();
    const { engine } = h;
    const s = h.open();
    const big = (fill: string): Buffer => Buffer.from(`${fill.repeat(40_000)}\r\n`, 'latin1');
    const parent = Buffer.concat([big('p'), Buffer.alloc(100)]);
    const inView = engine.put(s, 0, 0, 60_000, parent.subarray(0, 40_002), true);
    const ids: number[] = [];
    for (let i = 0; i < 400; i++) {
      const body = i % 10 === 0 ? big(String(i % 7)) : Buffer.from(`small ${i}\r\n`, 'latin1');
      const result = engine.put(s, 0, 0, 60_000, body, true);
      if (result.word === 'INSERTED') ids.push(result.id);
    }
    parent.fill(0); // the caller reuses its buffer: the job kept its own copy
    engine.restoreJob(
      { ...(engine.peek(ids[0] as number)?.toRecord() as JobRecord), id: 10_000 },
      big('r').subarray(0, 40_000),
    );
    for (const id of ids.slice(1, 391)) engine.delete(s, id);
    h.check();
    assert.ok(inView.word === 'INSERTED');
    assert.equal(engine.peek(inView.id)?.bodyWithCrlf.toString('latin1'), big('p').toString('latin1'));
    assert.equal(engine.peek(10_000)?.bodyWithCrlf.toString('latin1'), big('r').toString('latin1'));
    assert.equal(engine.peek(10_000)?.bodyBytes, 40_000);
    for (const id of [ids[0], ...ids.slice(391)] as number[]) {
      const i = ids.indexOf(id);
      const expected = i % 10 === 0 ? big(String(i % 7)) : Buffer.from(`small ${i}\r\n`, 'latin1');
      assert.equal(
        engine.peek(id)?.bodyWithCrlf.toString('latin1'),
        expected.toString('latin1'),
        `job ${id}`,
      );
    }
  });

  test('job table: a view follows its job when the slot moves, and refuses to read a deleted job', () => {
    const h = new Harness();
    const s = h.open();
    const ids: number[] = [];
    for (let i = 0; i < 500; i++) ids.push(h.put(s, { text: `j${i}` }));
    const last = h.engine.peek(ids[499] as number);
    const slotBefore = last?.slot;
    for (const id of ids.slice(0, 490)) h.engine.delete(s, id);
    assert.notEqual(last?.slot, slotBefore, 'the table shrank and moved it');
    assert.equal(last?.state, JobState.Ready);
    assert.equal(last?.bodyWithCrlf.toString(), 'j499\r\n');
    const gone = h.engine.peek(ids[490] as number);
    h.engine.delete(s, ids[490] as number);
    h.put(s, { text: 'reuses the slot' });
    assert.equal(gone?.id, ids[490]);
    assert.throws(() => gone?.state, /gone/);
    h.check();
  });
});
