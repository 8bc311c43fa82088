import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';
import { startNodeServer } from '../../src/server/node-server';

/** Collects everything a socket receives; `until` resolves once the text contains `marker`. */
function recorder(socket: net.Socket) {
  let text = '';
  const waiters: Array<{ marker: string; resolve: () => void }> = [];
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (const w of waiters.splice(0)) {
      if (text.includes(w.marker)) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    get text() {
      return text;
    },
    until(marker: string): Promise<void> {
      if (text.includes(marker)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ marker, resolve }));
    },
  };
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

test('server: a client that never reads cannot grow the server beyond its bounds', async () => {
  const maxOutputBytes = 256 * 1024;
  const maxInputBytes = 64 * 1024;
  let resolvePaused: (info: { unsentBytes: number; unreadBytes: number }) => void = () => {};
  const paused = new Promise<{ unsentBytes: number; unreadBytes: number }>((r) => {
    resolvePaused = r;
  });
  const server = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    maxOutputBytes,
    maxInputBytes,
    onBackpressure: (info) => resolvePaused(info),
  });
  try {
    const client = await connect(server.port);
    const body = 'x'.repeat(60_000);
    client.write(`put 0 0 60 ${body.length}\r\n${body}\r\n`);
    // 200,000 peeks would be 12 GB of replies; the client reads none of them.
    const peeks = Buffer.from('peek 1\r\n'.repeat(200_000));
    client.pause();
    client.write(peeks);
    const info = await paused;
    const oneReply = 60_000 + 64;
    assert.ok(info.unsentBytes <= maxOutputBytes + oneReply, `unsent ${info.unsentBytes}`);
    // Reading stops once unprocessed input passes the bound, so at most one socket read (64 KiB,
    // libuv's read buffer) lies beyond it — far less than the 1.6 MB of peeks the client sent.
    const oneRead = 64 * 1024;
    assert.ok(info.unreadBytes <= maxInputBytes + oneRead, `unread ${info.unreadBytes}`);
    const [connection] = [...server.connections];
    assert.ok(connection);
    assert.ok(connection.socket.isPaused(), 'the server stopped reading');
    assert.ok(
      connection.parser.bufferedBytes <= maxInputBytes + oneRead,
      `held ${connection.parser.bufferedBytes}`,
    );
    client.destroy();
  } finally {
    await server.close();
  }
});

test('server: --max-connections refuses connections beyond the limit', async () => {
  const server = await startNodeServer({ host: '127.0.0.1', port: 0, maxConnections: 2 });
  try {
    const a = await connect(server.port);
    const b = await connect(server.port);
    const c = await connect(server.port);
    const closed = once(c, 'close');
    c.resume();
    await closed;
    const rec = recorder(a);
    a.write('list-tube-used\r\n');
    await rec.until('USING default\r\n');
    a.destroy();
    b.destroy();
  } finally {
    await server.close();
  }
});

test('server: replies keep request order for pipelined commands in one write', async () => {
  const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
  try {
    const client = await connect(server.port);
    const rec = recorder(client);
    client.write('use p1\r\nuse p2\r\nput 0 0 1 1\r\nx\r\nlist-tube-used\r\n');
    await rec.until('USING p2\r\n' + 'INSERTED 1\r\n' + 'USING p2\r\n');
    assert.equal(rec.text, 'USING p1\r\nUSING p2\r\nINSERTED 1\r\nUSING p2\r\n');
    client.destroy();
  } finally {
    await server.close();
  }
});

test('server: SIGTERM stops the node cleanly with exit code 0', async () => {
  const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, 'node', '-l', '127.0.0.1', '-p', '0', '-V'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /bind [^\n]*:(\d+)\n/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`node exited early: ${stderr}`)));
  });
  const client = await connect(port);
  const rec = recorder(client);
  client.write('put 0 0 60 1\r\nx\r\nreserve\r\n');
  await rec.until('RESERVED 1 1\r\nx\r\n');
  const exited = once(child, 'exit');
  const clientClosed = once(client, 'close');
  child.kill('SIGTERM');
  const [code] = await exited;
  await clientClosed;
  assert.equal(code, 0);
});
