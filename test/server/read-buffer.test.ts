/**
 * The node reads every connection into one shared buffer (Connection.onRead): what a connection
 * keeps past a read — requests held behind a waiting reserve, a request cut by a read boundary —
 * must be its own copy, untouched by the reads of other connections that reuse the buffer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startNodeServer } from '../../src/server/node-server';
import { RawClient } from '../support/proxy-harness';

test('read buffer: requests held behind a waiting reserve survive other connections reading', async () => {
  const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const a = await RawClient.open(server.port);
  const b = await RawClient.open(server.port);
  try {
    assert.equal((await a.cmd('watch a')).line, 'WATCHING 2');
    assert.equal((await a.cmd('ignore default')).line, 'WATCHING 1');
    // The put stays unread in a's parser while its reserve waits.
    a.write('reserve\r\nput 0 0 60 5\r\nhello\r\n');
    // Over 64 KiB from b: several reads into the shared buffer, overwriting it.
    const filler = 'x'.repeat(400);
    const batch = Array.from({ length: 300 }, () => `put 0 0 60 ${filler.length}\r\n${filler}\r\n`).join('');
    b.write(batch);
    for (let i = 0; i < 300; i++) assert.match((await b.next())?.line ?? '', /^INSERTED \d+$/);
    assert.equal((await b.cmd('use a')).line, 'USING a');
    const woke = await b.put('wake');
    const reserved = await a.next();
    assert.equal(reserved?.line, `RESERVED ${woke} 4`);
    assert.equal(reserved?.body?.toString(), 'wake');
    const held = /^INSERTED (\d+)$/.exec((await a.next())?.line ?? '');
    assert.ok(held, 'the held put ran');
    const peeked = await a.cmd(`peek ${held[1]}`);
    assert.equal(peeked.body?.toString(), 'hello');
  } finally {
    a.close();
    b.close();
    await server.close();
  }
});

test('read buffer: requests cut by read boundaries keep their bytes', async () => {
  const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const c = await RawClient.open(server.port);
  try {
    // 200 puts of 1–1,500 bytes in one write (~150 KiB): reads end inside lines and bodies.
    const bodies = Array.from({ length: 200 }, (_, i) =>
      Buffer.alloc(1 + ((i * 7919) % 1500), 97 + (i % 26)),
    );
    c.write(
      Buffer.concat(
        bodies.map((body) =>
          Buffer.concat([Buffer.from(`put 0 0 60 ${body.length}\r\n`), body, Buffer.from('\r\n')]),
        ),
      ),
    );
    const ids: number[] = [];
    for (const _ of bodies) {
      const m = /^INSERTED (\d+)$/.exec((await c.next())?.line ?? '');
      assert.ok(m);
      ids.push(Number(m[1]));
    }
    for (const [i, id] of ids.entries()) {
      const peeked = await c.cmd(`peek ${id}`);
      assert.deepEqual(peeked.body, bodies[i], `job ${id}`);
    }
  } finally {
    c.close();
    await server.close();
  }
});
