/** OutBatch: one write per batch, small parts copied together, large ones passed as they are, order kept. */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { OutBatch } from '../../src/net/out-batch';

function fakeSocket(): { socket: Socket; writes: Buffer[]; corks: number } {
  const state = { writes: [] as Buffer[], corks: 0 };
  const socket = {
    write: (b: Buffer) => state.writes.push(b) > 0,
    cork: () => {
      state.corks++;
    },
    uncork: () => {
      state.corks--;
    },
  } as unknown as Socket;
  return {
    socket,
    get writes() {
      return state.writes;
    },
    get corks() {
      return state.corks;
    },
  };
}

test('out-batch: small parts leave as one buffer with the same bytes', () => {
  const f = fakeSocket();
  const batch = new OutBatch();
  const parts = Array.from({ length: 300 }, (_, i) => Buffer.from(`INSERTED ${i}\r\n`));
  for (const p of parts) batch.push(p);
  assert.equal(batch.empty, false);
  batch.writeTo(f.socket);
  assert.equal(f.writes.length, 1);
  assert.deepEqual(f.writes[0], Buffer.concat(parts));
  assert.equal(batch.empty, true);
  batch.writeTo(f.socket);
  assert.equal(f.writes.length, 1, 'an empty batch writes nothing');
});

test('out-batch: a single part is written as is', () => {
  const f = fakeSocket();
  const batch = new OutBatch();
  const only = Buffer.from('DELETED\r\n');
  batch.push(only);
  batch.writeTo(f.socket);
  assert.equal(f.writes[0], only);
});

test('out-batch: large parts are not copied; runs of small parts around them are merged, in order', () => {
  const f = fakeSocket();
  const batch = new OutBatch();
  const big = Buffer.alloc(65536, 0x61);
  const seq = [Buffer.from('RESERVED 1 65536\r\n'), big, Buffer.from('\r\n'), Buffer.from('DELETED\r\n')];
  for (const p of seq) batch.push(p);
  batch.writeTo(f.socket);
  assert.equal(f.writes.length, 3);
  assert.equal(f.writes[1], big, 'the body is the same buffer');
  assert.deepEqual(Buffer.concat(f.writes), Buffer.concat(seq));
  assert.equal(f.corks, 0, 'cork and uncork pair up');
});

test('out-batch: lines pushed as text keep their place among buffers, each with its CRLF', () => {
  const f = fakeSocket();
  const batch = new OutBatch();
  const body = Buffer.from('a\r\nb\r\n');
  batch.pushLine('reserve');
  batch.pushLine('delete 7');
  batch.push(Buffer.from('put 0 0 60 4\r\n'));
  batch.push(body);
  batch.pushLine('x-unreserve 9');
  assert.equal(batch.empty, false);
  batch.writeTo(f.socket);
  assert.equal(f.writes.length, 1);
  assert.equal(
    f.writes[0]?.toString('latin1'),
    'reserve\r\ndelete 7\r\nput 0 0 60 4\r\na\r\nb\r\nx-unreserve 9\r\n',
  );
  assert.equal(batch.empty, true);
});

test('out-batch: a batch of lines alone is one write', () => {
  const f = fakeSocket();
  const batch = new OutBatch();
  for (let i = 0; i < 256; i++) batch.pushLine(`delete ${i}`);
  batch.writeTo(f.socket);
  assert.equal(f.writes.length, 1);
  assert.equal(f.writes[0]?.toString('latin1').split('\r\n').length, 257);
});
