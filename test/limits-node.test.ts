/**
 * Resource bounds of a node process (`stalkd node` with small limits), each with its resident
 * memory read from /proc: max connections, a client that never reads (also half-closed), slowloris
 * clients trickling a line or a body, idle and waiting clients that must NOT be closed, and
 * shutdown with a client that never reads.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startNodeServer } from '../src/server/node-server';
import {
  closedBy,
  connectRaw,
  currentConnections,
  eventually,
  probe,
  type StalkdProcess,
  startNodeProcess,
} from './support/processes';

const MiB = 1024 * 1024;
const MAX_CONNECTIONS = 300;
const REQUEST_TIMEOUT_MS = 600;

/** Resolves with the reply once `socket` has received `marker`. */
function until(socket: net.Socket, marker: string): Promise<string> {
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (!text.includes(marker)) return;
      socket.off('data', onData);
      resolve(text);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before ${marker}: ${JSON.stringify(text)}`)));
  });
}

describe('node limits', () => {
  let node: StalkdProcess;
  /** Connections held open (idle) through every test; checked alive at the end. */
  const idle: net.Socket[] = [];

  before(async () => {
    node = await startNodeProcess([
      '--max-connections',
      String(MAX_CONNECTIONS),
      '--max-output-bytes',
      String(256 * 1024),
      '--max-input-bytes',
      String(64 * 1024),
      '--request-timeout-ms',
      String(REQUEST_TIMEOUT_MS),
      '-z',
      '100000',
    ]);
    await probe(node.port, 'warm-up');
  });

  after(async () => {
    for (const s of idle) s.destroy();
    await node.kill();
  });

  test('limits: node --max-connections closes connections beyond the limit; RSS per idle connection is small', async () => {
    const rssBefore = node.rss();
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const s = await connectRaw(node.port);
      s.write('list-tube-used\r\n');
      await until(s, 'USING default\r\n');
      idle.push(s);
    }
    const rssPerConnection = (node.rss() - rssBefore) / MAX_CONNECTIONS;
    for (let i = 0; i < 20; i++) {
      const extra = await connectRaw(node.port);
      await closedBy(extra);
    }
    // Room for the other tests; the rest stay idle throughout.
    for (const s of idle.splice(0, 60)) {
      const gone = closedBy(s);
      s.destroy();
      await gone;
    }
    await probe(node.port, 'after-limit');
    assert.ok(rssPerConnection < 64 * 1024, `RSS per idle connection ${rssPerConnection} bytes`);
    console.log(`# node: ${Math.round(rssPerConnection)} bytes of RSS per idle connection`);
  });

  test('limits: node client that never reads is held to the output bound and closed after the request timeout', async () => {
    const baseline = await currentConnections(node.port);
    const rssBefore = node.rss();
    const setup = await connectRaw(node.port);
    const body = 'x'.repeat(60_000);
    setup.write(`use never-reads\r\nput 0 0 60 ${body.length}\r\n${body}\r\n`);
    const id = /INSERTED (\d+)/.exec(await until(setup, 'INSERTED'))?.[1];
    setup.destroy();
    // 20,000 peeks of a 60 kB job would be 1.2 GB of replies; neither client reads any.
    const peeks = `peek ${id}\r\n`.repeat(20_000);
    const reader = await connectRaw(node.port);
    reader.pause();
    reader.write(peeks);
    const halfClosed = await connectRaw(node.port);
    halfClosed.pause();
    halfClosed.end(peeks);
    const started = Date.now();
    // A paused client cannot see the close: watch the server's own count instead (bounded poll).
    let maxGrewBytes = 0;
    await eventually('the node closed both', async () => {
      maxGrewBytes = Math.max(maxGrewBytes, node.rss() - rssBefore);
      return (await currentConnections(node.port)) === baseline;
    });
    const ms = Date.now() - started;
    for (const s of [reader, halfClosed]) {
      const gone = closedBy(s);
      s.resume();
      await gone;
    }
    console.log(
      `# node: never-reading clients: RSS grew by at most ${maxGrewBytes} bytes, closed after ${ms} ms`,
    );
    // Unbounded, each would queue 1.2 GB; bounded, 256 KiB of replies + 64 KiB of input each.
    assert.ok(maxGrewBytes < 32 * MiB, `RSS grew by ${maxGrewBytes} bytes`);
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 50, `closed after only ${ms} ms`);
    await probe(node.port, 'after-never-reads');
  });

  test('limits: node slowloris clients (a trickled line, a trickled body) are closed after the request timeout; others are served meanwhile', async () => {
    const baseline = await currentConnections(node.port);
    const rssBefore = node.rss();
    const slow: net.Socket[] = [];
    const pieces: string[] = [];
    // 240 idle + 45 slow leaves room under the limit for the probe.
    for (let i = 0; i < 45; i++) {
      slow.push(await connectRaw(node.port));
      // A line that never ends, a body that never ends (its 99 kB allocated up front), a long
      // line being discarded: each is trickled a byte at a time.
      pieces.push(['stats-tube slow', 'put 0 0 60 99000\r\nabc', `${'y'.repeat(300)}`][i % 3] as string);
    }
    slow.forEach((s, i) => {
      s.write(pieces[i] as string);
    });
    const closed = Promise.all(slow.map(closedBy));
    const started = Date.now();
    let ticks = 0;
    const trickle = setInterval(() => {
      ticks++;
      for (const s of slow) if (!s.destroyed) s.write('z');
      if (ticks > 100) clearInterval(trickle);
    }, 50);
    try {
      await probe(node.port, 'during-slowloris');
      const rssDuring = node.rss() - rssBefore;
      await closed;
      const ms = Date.now() - started;
      assert.ok(ms >= REQUEST_TIMEOUT_MS - 50, `closed after only ${ms} ms`);
      assert.ok(ms < REQUEST_TIMEOUT_MS + 3000, `closed after ${ms} ms`);
      console.log(`# node: 45 slowloris clients: RSS grew by ${rssDuring} bytes, all closed after ${ms} ms`);
      assert.ok(rssDuring < 32 * MiB, `RSS grew by ${rssDuring} bytes`);
    } finally {
      clearInterval(trickle);
    }
    assert.equal(await currentConnections(node.port), baseline);
  });

  test('limits: node does not time out a worker waiting in reserve, nor a request split over several packets', async () => {
    const worker = await connectRaw(node.port);
    const waited = until(worker, 'TIMED_OUT\r\n');
    const started = Date.now();
    worker.write('watch wait-here\r\nreserve-with-timeout 1\r\n');
    await waited;
    assert.ok(Date.now() - started >= 950, 'the reserve ran its full second (longer than the timeout)');
    // A request completed piece by piece, each piece quicker than the timeout, then more whole ones.
    const split = until(worker, 'INSERTED');
    worker.write('put 0 0 60 5\r\n');
    worker.write('ab');
    worker.write('cde\r\n');
    await split;
    worker.write('list-tube-used\r\n');
    await until(worker, 'USING default\r\n');
    worker.destroy();
  });

  test('limits: node half-closed client gets its replies, then the connection closes', async () => {
    const baseline = await currentConnections(node.port);
    const s = await connectRaw(node.port);
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    const gone = closedBy(s);
    s.end('watch half\r\nignore default\r\nreserve-with-timeout 30\r\n');
    await gone;
    assert.equal(text, 'WATCHING 2\r\nWATCHING 1\r\nTIMED_OUT\r\n');
    assert.equal(await currentConnections(node.port), baseline);
  });

  test('limits: node idle connections outlive the request timeout', async () => {
    assert.equal(idle.length, MAX_CONNECTIONS - 60);
    for (const s of idle) {
      s.write('list-tube-used\r\n');
      await until(s, 'USING default\r\n');
    }
  });
});

test('limits: node shutdown does not wait forever for a client that never reads', async () => {
  let backpressure: () => void = () => {};
  const stuck = new Promise<void>((resolve) => {
    backpressure = resolve;
  });
  const server = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    requestTimeoutMs: 0,
    onBackpressure: () => backpressure(),
  });
  const client = await connectRaw(server.port);
  client.pause();
  const body = 'x'.repeat(60_000);
  client.write(`put 0 0 60 ${body.length}\r\n${body}\r\n${'peek 1\r\n'.repeat(2000)}`);
  await stuck;
  const started = Date.now();
  await server.close();
  const ms = Date.now() - started;
  assert.ok(ms < 10_000, `closed after ${ms} ms`);
  const gone = once(client, 'close');
  client.resume();
  await gone;
});
