/**
 * Resource bounds of a proxy process (`stalkd proxy` with small limits), each with the proxy's
 * resident memory read from /proc: max connections, a client that never reads (also half-closed),
 * slowloris clients, requests in flight per node connection and queued input (against a node that
 * holds its replies), idle and waiting clients that must NOT be closed, and shutdown with a client
 * whose replies never drain.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startProxyServer } from '../../src/proxy/server';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { startHoldingNode } from '../support/holding-node';
import { type LimitTarget, MiB, neverReadingClients, slowlorisClients, until } from '../support/limits-cases';
import {
  closedBy,
  connectRaw,
  eventually,
  letGo,
  probe,
  type StalkdProcess,
  startProxyProcess,
} from '../support/processes';

const MAX_CONNECTIONS = 200;
const REQUEST_TIMEOUT_MS = 600;

describe('proxy limits', () => {
  let nodes: NodeServer[] = [];
  let proxy: StalkdProcess;
  const idle: net.Socket[] = [];
  const target = (): LimitTarget => ({
    name: 'proxy',
    port: proxy.port,
    rss: () => proxy.rss(),
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });

  before(async () => {
    nodes = await Promise.all([0, 1, 2].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })));
    proxy = await startProxyProcess(
      nodes.map((n) => n.port),
      [
        '--max-connections',
        String(MAX_CONNECTIONS),
        '--max-output-bytes',
        String(256 * 1024),
        '--max-input-bytes',
        String(64 * 1024),
        '--request-timeout-ms',
        String(REQUEST_TIMEOUT_MS),
      ],
    );
    await probe(proxy.port, 'warm-up');
  });

  after(async () => {
    for (const s of idle) s.destroy();
    await proxy.kill();
    await Promise.all(nodes.map((n) => n.close()));
  });

  test('limits: proxy --max-connections closes connections beyond the limit; RSS per idle connection is small', async () => {
    const rssBefore = proxy.rss();
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const s = await connectRaw(proxy.port);
      s.write('list-tube-used\r\n');
      await until(s, 'USING default\r\n');
      idle.push(s);
    }
    const rssPerConnection = (proxy.rss() - rssBefore) / MAX_CONNECTIONS;
    for (let i = 0; i < 20; i++) await closedBy(await connectRaw(proxy.port));
    for (const s of idle.splice(0, 60)) await letGo(s);
    await probe(proxy.port, 'after-limit');
    console.log(`# proxy: ${Math.round(rssPerConnection)} bytes of RSS per idle connection`);
    assert.ok(rssPerConnection < 64 * 1024, `RSS per idle connection ${rssPerConnection} bytes`);
  });

  test('limits: proxy client that never reads is held to the output bound and closed after the request timeout', async () => {
    await neverReadingClients(target(), 96 * MiB);
  });

  test('limits: proxy slowloris clients are closed after the request timeout; others are served meanwhile', async () => {
    await slowlorisClients(target(), 60000);
  });

  test('limits: proxy does not time out a worker waiting in reserve or idle clients; a half-closed client gets its replies', async () => {
    const worker = await connectRaw(proxy.port);
    const started = Date.now();
    worker.write('watch wait-here\r\nignore default\r\nreserve-with-timeout 1\r\n');
    await until(worker, 'TIMED_OUT\r\n');
    assert.ok(Date.now() - started >= 950, 'the reserve ran its full second (longer than the timeout)');
    worker.destroy();
    const half = await connectRaw(proxy.port);
    let text = '';
    half.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    const gone = closedBy(half);
    half.end('watch half\r\nignore default\r\nreserve-with-timeout 30\r\n');
    await gone;
    assert.equal(text, 'WATCHING 2\r\nWATCHING 1\r\nTIMED_OUT\r\n');
    for (const s of idle) {
      s.write('list-tube-used\r\n');
      await until(s, 'USING default\r\n');
    }
  });
});

test('limits: proxy --max-inflight and --max-input-bytes hold a pipelining client to the bounds', async () => {
  const MAX_INFLIGHT = 16;
  const node = await startHoldingNode(MAX_INFLIGHT);
  const proxy = await startProxyProcess(
    [node.port],
    [
      '--max-inflight',
      String(MAX_INFLIGHT),
      '--max-input-bytes',
      String(256 * 1024),
      '--node-timeout-ms',
      '60000',
    ],
  );
  try {
    const client = await connectRaw(proxy.port);
    const puts = 8000;
    const body = 'b'.repeat(4096);
    let inserted = 0;
    let lastId = 0;
    let ordered = true;
    let tail = '';
    const done = new Promise<void>((resolve) => {
      client.on('data', (chunk: Buffer) => {
        const lines = (tail + chunk.toString('latin1')).split('\r\n');
        tail = lines.pop() ?? '';
        for (const line of lines) {
          const id = Number(/^INSERTED (\d+)$/.exec(line)?.[1] ?? Number.NaN);
          if (!(id > lastId)) ordered = false;
          lastId = id;
          if (++inserted === puts) resolve();
        }
      });
    });
    const rssBefore = proxy.rss();
    let maxGrewBytes = 0;
    const sampler = setInterval(() => {
      maxGrewBytes = Math.max(maxGrewBytes, proxy.rss() - rssBefore);
    }, 20);
    // 32 MB of puts written at once: the proxy may hold only its bounds' worth of them.
    const frame = `put 0 0 60 ${body.length}\r\n${body}\r\n`;
    for (let i = 0; i < puts; i += 1000) client.write(frame.repeat(1000));
    await done;
    clearInterval(sampler);
    console.log(
      `# proxy: 8,000 pipelined 4 kB puts: ${node.maxHeld} in flight at most, RSS grew by ${maxGrewBytes} bytes`,
    );
    assert.ok(ordered, 'replies in order');
    assert.equal(node.maxHeld, MAX_INFLIGHT);
    assert.equal(node.answered, puts);
    assert.ok(maxGrewBytes < 64 * MiB, `RSS grew by ${maxGrewBytes} bytes`);

    // The node now answers nothing and 60 MB of puts arrive. Queued bodies count until their reply
    // is written, in flight or not: 256 KiB admits ceil(262144 / 60002) = 5 puts, one read (64 KiB)
    // may complete a sixth. Without the byte bound 1024 queued puts would hold 61 MB.
    node.batch = Number.POSITIVE_INFINITY;
    const big = `put 0 0 60 60000\r\n${'B'.repeat(60_000)}\r\n`;
    const rssHeldBefore = proxy.rss();
    for (let i = 0; i < 10; i++) client.write(big.repeat(100));
    await eventually('the node holds a full window', () => node.held >= 5);
    let heldGrewBytes = 0;
    for (let i = 0; i < 10; i++) {
      heldGrewBytes = Math.max(heldGrewBytes, proxy.rss() - rssHeldBefore);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    assert.ok(node.held <= 6, `${node.held} puts sent while none was answered`);
    console.log(`# proxy: 60 MB of puts to a node that does not answer: RSS grew by ${heldGrewBytes} bytes`);
    assert.ok(heldGrewBytes < 24 * MiB, `RSS grew by ${heldGrewBytes} bytes`);
    const all = new Promise<void>((resolve) => {
      client.on('data', () => {
        if (inserted === puts + 1000) resolve();
      });
    });
    // Fewer than MAX_INFLIGHT large puts fit the input bound: answer each at once from here.
    node.batch = 1;
    node.release();
    await all;
    assert.ok(ordered, 'replies in order');
    client.destroy();
  } finally {
    await proxy.kill();
    await node.close();
  }
});

test('limits: proxy shutdown does not wait forever for a client whose replies never drain', async () => {
  const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
  const proxy = await startProxyServer({
    port: 0,
    nodes: [{ index: 0, name: 'n0', host: '127.0.0.1', port: node.port }],
    requestTimeoutMs: 0,
    maxOutputBytes: 64 * MiB,
  });
  try {
    const client = await connectRaw(proxy.port);
    client.pause();
    const body = 'x'.repeat(60_000);
    // The session ends itself after `quit`, with 18 MB of replies (more than the kernel's socket
    // buffers hold, less than the output bound) still unsent.
    client.write(`put 0 0 60 ${body.length}\r\n${body}\r\n${'peek-ready\r\n'.repeat(300)}quit\r\n`);
    await eventually('the session ended', () => proxy.counters.currentConnections === 0);
    const started = Date.now();
    await proxy.close();
    assert.ok(Date.now() - started < 5000);
    const gone = closedBy(client);
    client.resume();
    await gone;
  } finally {
    await node.close();
  }
});
