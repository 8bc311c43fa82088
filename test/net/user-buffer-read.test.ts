/**
 * readInto (src/net/user-buffer-read.ts): an accepted socket reads into the caller's one buffer
 * instead of emitting 'data', and still ends as usual. Fails on a Node release that no longer
 * allows it (the node then reads with 'data': slower, not wrong), so an upgrade says so.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { readInto } from '../../src/net/user-buffer-read';

test('readInto: an accepted socket reads into the one buffer, emits no data, and still ends', async () => {
  const buffer = Buffer.alloc(64);
  const reads: string[] = [];
  let dataEvents = 0;
  let gotBytes: () => void = () => {};
  const ended = new Promise<void>((resolveEnded) => {
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      const ok = readInto(socket, buffer, (bytes, into) => {
        assert.equal(into, buffer, 'the callback gets the caller’s buffer');
        reads.push(into.toString('latin1', 0, bytes));
        if (reads.join('') === 'hello world') gotBytes();
      });
      assert.equal(ok, true, 'this Node lets an accepted socket read into a buffer of ours');
      socket.on('data', () => dataEvents++);
      socket.on('end', () => {
        socket.end();
        server.close();
        resolveEnded();
      });
      socket.resume();
    });
    server.listen(0, '127.0.0.1', async () => {
      const address = server.address() as net.AddressInfo;
      const client = net.connect(address.port, '127.0.0.1');
      await once(client, 'connect');
      const all = new Promise<void>((resolve) => {
        gotBytes = resolve;
      });
      client.write('hello ');
      client.write('world');
      await all;
      client.end();
    });
  });
  await ended;
  assert.equal(reads.join(''), 'hello world');
  assert.equal(dataEvents, 0);
});
