/** LazyClient: one connect for concurrent first uses, a new one after close or drop, none leaked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from '../../src/client';
import { LazyClient } from '../../src/dashboard/lazy-client';

interface FakeClient {
  n: number;
  closedByUs: boolean;
  closed: Promise<void>;
  close(): Promise<void>;
  /** The server side goes away. */
  hangUp(): void;
}

function fakes(): { open: () => Promise<Client>; made: FakeClient[]; release: () => void } {
  const made: FakeClient[] = [];
  let gate: (() => void) | null = null;
  const open = (): Promise<Client> =>
    new Promise((resolve) => {
      let hangUp: () => void = () => {};
      const closed = new Promise<void>((r) => {
        hangUp = r;
      });
      const c: FakeClient = {
        n: made.length,
        closedByUs: false,
        closed,
        close: async () => {
          c.closedByUs = true;
          hangUp();
        },
        hangUp,
      };
      made.push(c);
      gate = () => resolve(c as unknown as Client);
    });
  return { open, made, release: () => gate?.() };
}

test('lazy-client: concurrent first uses share one connect; after a close the next use reconnects', async () => {
  const f = fakes();
  const lazy = new LazyClient(f.open);
  const a = lazy.get();
  const b = lazy.get();
  f.release();
  assert.equal(await a, await b);
  assert.equal(f.made.length, 1);
  assert.equal(await lazy.get(), await a, 'reused while open');
  f.made[0]?.hangUp();
  await f.made[0]?.closed;
  const c = lazy.get();
  f.release();
  assert.notEqual(await c, await a);
  assert.equal(f.made.length, 2);
});

test('lazy-client: drop closes the open connection, and one still connecting is closed when it arrives', async () => {
  const f = fakes();
  const lazy = new LazyClient(f.open);
  const first = lazy.get();
  f.release();
  await first;
  lazy.drop();
  assert.equal(f.made[0]?.closedByUs, true);
  const pending = lazy.get();
  lazy.drop();
  f.release();
  await assert.rejects(pending, /dropped/);
  assert.equal(f.made[1]?.closedByUs, true, 'the late connection is not leaked');
  const next = lazy.get();
  f.release();
  assert.equal(((await next) as unknown as FakeClient).n, 2);
});
