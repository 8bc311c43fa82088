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
import { startNodeServer } from '../../src/server/node-server';
import { type LimitTarget, MiB, neverReadingClients, slowlorisClients, until } from '../support/limits-cases';
import {
  closedBy,
  connectRaw,
  currentConnections,
  letGo,
  probe,
  type StalkdProcess,
  startNodeProcess,
} from '../support/processes';

const MAX_CONNECTIONS = 300;
const REQUEST_TIMEOUT_MS = 600;

describe('node limits', () => {
  let node: StalkdProcess;
  /** Connections held open (idle) through every test; checked alive at the end. */
  const idle: net.Socket[] = [];
  const target = (): LimitTarget => ({
    name: 'node',
    port: node.port,
    rss: () => node.rss(),
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });

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
    for (const s of idle.splice(0, 60)) await letGo(s);
    await probe(node.port, 'after-limit');
    assert.ok(rssPerConnection < 64 * 1024, `RSS per idle connection ${rssPerConnection} bytes`);
    console.log(`# node: ${Math.round(rssPerConnection)} bytes of RSS per idle connection`);
  });

  test('limits: node client that never reads is held to the output bound and closed after the request timeout', async () => {
    await neverReadingClients(target(), 32 * MiB);
  });

  test('limits: node slowloris clients (a trickled line, a trickled body) are closed after the request timeout; others are served meanwhile', async () => {
    await slowlorisClients(target(), 99000);
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
