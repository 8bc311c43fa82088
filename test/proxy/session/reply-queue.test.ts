/**
 * The session's ordering rule on its own (no sockets): a fake host says where each request goes
 * and records what the queue starts; the test answers requests in any order and checks what runs
 * when and what leaves in which order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from '../../../src/protocol/commands';
import { ReplyQueue, type Slot } from '../../../src/proxy/session/reply-queue';
import type { Target } from '../../../src/proxy/types';

/** Requests are `use <target>`: the tube names where it goes (`n0`, `n1`, `local`, `barrier`). */
function req(target: string): Request {
  return { op: 'use', tube: target };
}

function targetOf(r: Request): Target {
  const name = (r as { tube: string }).tube;
  if (name === 'local' || name === 'barrier') return name;
  return Number(name.slice(1));
}

class Harness {
  readonly started: Slot[] = [];
  syncPending = false;
  mayStart = true;
  readonly queue: ReplyQueue;

  constructor(maxInflight = 128) {
    this.queue = new ReplyQueue(
      {
        targetOf,
        mayStart: () => this.mayStart,
        syncPending: () => this.syncPending,
        start: (slot, target) => {
          this.started.push(slot);
          if (target !== 'local') this.queue.sent();
        },
      },
      maxInflight,
    );
  }

  push(...targets: string[]): void {
    for (const t of targets) this.queue.push(req(t));
    this.queue.pump();
  }

  startedNames(): string[] {
    return this.started.map((s) => (s.req as { tube: string }).tube);
  }

  /** Answers the `i`-th started request with its name, then pumps as the session does. */
  answer(i: number): void {
    const slot = this.started[i] as Slot;
    const target = targetOf(slot.req);
    this.queue.complete(slot, Buffer.from(`${i}`), target, target !== 'local');
    this.queue.pump();
  }

  taken(): string[] {
    const out: string[] = [];
    this.queue.takeAnswered((slot) => {
      out.push(String(slot.reply));
      return true;
    });
    return out;
  }
}

test('reply queue: requests to one node are pipelined; replies leave in request order whatever order they come in', () => {
  const h = new Harness();
  h.push('n0', 'n0', 'n0');
  assert.deepEqual(h.startedNames(), ['n0', 'n0', 'n0']);
  h.answer(2);
  h.answer(1);
  assert.deepEqual(h.taken(), [], 'the first reply is still missing');
  h.answer(0);
  assert.deepEqual(h.taken(), ['0', '1', '2']);
  assert.equal(h.queue.length, 0);
});

test('reply queue: a request for another node waits until the earlier ones are answered', () => {
  const h = new Harness();
  h.push('n0', 'n1', 'n1');
  assert.deepEqual(h.startedNames(), ['n0']);
  h.answer(0);
  assert.deepEqual(h.startedNames(), ['n0', 'n1', 'n1']);
});

test('reply queue: local requests run at once, between node requests', () => {
  const h = new Harness();
  h.push('n0', 'local', 'n0');
  assert.deepEqual(h.startedNames(), ['n0', 'local', 'n0']);
  h.answer(1);
  assert.deepEqual(h.taken(), [], 'the local reply waits for the node reply before it');
  h.answer(0);
  h.answer(2);
  assert.deepEqual(h.taken(), ['0', '1', '2']);
});

test('reply queue: a barrier waits for outstanding requests and pending state, and holds everything behind it', () => {
  const h = new Harness();
  h.syncPending = true;
  h.push('n0', 'barrier', 'n0', 'local');
  assert.deepEqual(h.startedNames(), ['n0']);
  h.answer(0);
  assert.deepEqual(h.startedNames(), ['n0'], 'a state change is still unacknowledged');
  h.syncPending = false;
  h.queue.pump();
  assert.deepEqual(h.startedNames(), ['n0', 'barrier']);
  h.answer(1);
  assert.deepEqual(h.startedNames(), ['n0', 'barrier', 'n0', 'local']);
});

test('reply queue: at most maxInflight requests are outstanding; nothing starts while output is over its bound', () => {
  const h = new Harness(2);
  h.push('n0', 'n0', 'n0');
  assert.equal(h.started.length, 2);
  h.answer(0);
  assert.equal(h.started.length, 3);
  h.mayStart = false;
  h.answer(1);
  h.push('n0');
  assert.equal(h.started.length, 3, 'one slot is free, but output is over its bound');
  h.mayStart = true;
  h.queue.pump();
  assert.equal(h.started.length, 4);
});

test('reply queue: cutAt answers the oldest matching request and drops everything after it', () => {
  const h = new Harness();
  h.push('n0', 'n0', 'n0');
  h.push('n1');
  assert.ok(h.queue.cutAt((r) => r === h.started[1]?.req, Buffer.from('cut')));
  assert.equal(h.queue.length, 2);
  h.answer(0);
  assert.deepEqual(h.taken(), ['0', 'cut']);
  assert.equal(h.queue.length, 0);
});

test('reply queue: dropWaiting forgets requests not started yet', () => {
  const h = new Harness();
  h.push('n0', 'n1', 'n1');
  h.queue.dropWaiting();
  assert.equal(h.queue.length, 1);
  h.answer(0);
  assert.deepEqual(h.taken(), ['0']);
  assert.equal(h.started.length, 1);
});
