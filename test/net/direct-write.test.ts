/**
 * writeDirect (src/net/direct-write.ts): buffers written straight to a TCP socket's handle arrive
 * in order with the stream's own writes and end(), what the kernel does not take is counted by
 * pendingOutput until written, then 'drain'; a write to a reset peer destroys the socket with the
 * error. Real loopback sockets; the client's paused reading is what fills the kernel's buffers.
 * Fails on a Node release without the direct path, so an upgrade says so.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, test } from 'node:test';
import { directWriteAvailable, pendingOutput, writeDirect } from '../../src/net/direct-write';

const CHUNK = 64 * 1024;
/** Far more than loopback's socket buffers hold (a few MiB): the writes must queue in libuv. */
const MAX_BYTES = 256 * 1024 * 1024;

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A connected pair on loopback: the server's accepted socket and the client, not reading yet. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  client.pause();
  const [server] = (await accepted) as [net.Socket];
  closers.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { server, client };
}

/** Chunk `n`: CHUNK bytes, every one of them n's low byte, so a reordering shows. */
function chunk(n: number): Buffer {
  return Buffer.alloc(CHUNK, n & 0xff);
}

/** Direct writes of chunks 0, 1, … until one leaves bytes queued in libuv; returns how many. */
function fillUntilQueued(socket: net.Socket): number {
  let n = 0;
  while (pendingOutput(socket) === 0) {
    assert.ok(n * CHUNK < MAX_BYTES, 'the kernel never pushed back');
    writeDirect(socket, chunk(n++));
  }
  return n;
}

/** The client reads from now on; returns how many bytes it has read so far. */
function countReads(client: net.Socket): () => number {
  let read = 0;
  client.on('data', (b: Buffer) => {
    read += b.length;
  });
  client.resume();
  return () => read;
}

/** Everything the client reads until the server's FIN. */
async function readAll(client: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  client.on('data', (b: Buffer) => parts.push(b));
  const ended = once(client, 'end');
  client.resume();
  await ended;
  return Buffer.concat(parts);
}

test('direct-write: this Node offers the direct path', () => {
  assert.equal(directWriteAvailable, true);
});

test('direct-write: bytes the kernel does not take count in pendingOutput until written, then drain', async () => {
  const { server, client } = await pair();
  const n = fillUntilQueued(server);
  const queued = pendingOutput(server);
  assert.ok(queued > 0 && queued <= CHUNK, `the last chunk's rest is queued (${queued} bytes)`);
  assert.equal(server.writableLength, 0, 'the stream itself holds nothing');
  const drained = once(server, 'drain');
  const read = countReads(client);
  await drained;
  assert.equal(pendingOutput(server), 0);
  server.end();
  await once(client, 'end');
  assert.equal(read(), n * CHUNK);
});

test('direct-write: with stream writes behind the queued bytes, drain comes once both are written', async () => {
  const { server, client } = await pair();
  const n = fillUntilQueued(server);
  server.write('INSERTED 1\r\n'); // small: the stream itself would never say 'drain' for it
  assert.ok(server.writableLength > 0, 'the stream write waits behind the queued bytes');
  const drained = once(server, 'drain');
  const read = countReads(client);
  await drained;
  assert.equal(pendingOutput(server), 0, 'drain only once nothing is pending');
  server.end();
  await once(client, 'end');
  assert.equal(read(), n * CHUNK + 12);
});

test('direct-write: queued direct writes, then stream writes, more direct writes and end() arrive in order', async () => {
  const { server, client } = await pair();
  const n = fillUntilQueued(server);
  // The stream knows nothing of the queued bytes: its write goes to libuv at once, behind them.
  server.write(chunk(n));
  server.write(chunk(n + 1)); // the stream keeps this one until chunk n is written
  assert.ok(server.writableLength > CHUNK, 'the stream holds a write in flight and one buffered');
  writeDirect(server, chunk(n + 2)); // must not overtake chunk n + 1: it goes through the stream
  writeDirect(server, chunk(n + 3));
  server.end(); // the FIN follows every queued write
  const got = await readAll(client);
  assert.equal(got.length, (n + 4) * CHUNK);
  for (let i = 0; i < n + 4; i++) {
    const part = got.subarray(i * CHUNK, (i + 1) * CHUNK);
    assert.ok(part.equals(chunk(i)), `chunk ${i} in its place`);
  }
});

test('direct-write: a write to a reset peer destroys the socket with the write error', async () => {
  const { server, client } = await pair();
  server.pause(); // no read may see the reset first: the write must
  const failed = once(server, 'error');
  client.resetAndDestroy(); // an RST, on loopback delivered before this returns
  await once(client, 'close');
  writeDirect(server, Buffer.from('INSERTED 1\r\n'));
  const [err] = (await failed) as [NodeJS.ErrnoException];
  assert.ok(err.code === 'EPIPE' || err.code === 'ECONNRESET', `write error, got ${err.code}`);
  assert.equal(err.syscall, 'write');
  assert.equal(server.destroyed, true);
});
