/**
 * Resource-bound cases shared by test/limits-node.test.ts and test/limits-proxy.test.ts: the same
 * misbehaving clients against a node process and against a proxy process, each with the server's
 * resident memory read from /proc.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { closedBy, connectRaw, currentConnections, eventually, probe } from './processes';

export const MiB = 1024 * 1024;

/** The server under test, started with `--request-timeout-ms requestTimeoutMs`. */
export interface LimitTarget {
  name: 'node' | 'proxy';
  port: number;
  rss(): number;
  requestTimeoutMs: number;
}

/** Resolves with the text received once `socket` has received `marker`. */
export function until(socket: net.Socket, marker: string): Promise<string> {
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

/**
 * Two clients (one half-closed) pipeline 20,000 peeks of a 60 kB job — 1.2 GB of replies each —
 * and never read: the server's RSS must grow by less than `maxGrowthBytes`, and both must be closed
 * after the request timeout.
 */
export async function neverReadingClients(t: LimitTarget, maxGrowthBytes: number): Promise<void> {
  const baseline = await currentConnections(t.port);
  const rssBefore = t.rss();
  const setup = await connectRaw(t.port);
  const body = 'x'.repeat(60_000);
  setup.write(`use never-reads\r\nput 0 0 60 ${body.length}\r\n${body}\r\n`);
  const id = /INSERTED (\d+)/.exec(await until(setup, 'INSERTED'))?.[1];
  setup.destroy();
  const peeks = `peek ${id}\r\n`.repeat(20_000);
  const reader = await connectRaw(t.port);
  reader.pause();
  reader.write(peeks);
  const halfClosed = await connectRaw(t.port);
  halfClosed.pause();
  halfClosed.end(peeks);
  const started = Date.now();
  // A paused client cannot see the close: watch the server's own count instead (bounded poll).
  let maxGrewBytes = 0;
  await eventually(`the ${t.name} closed both`, async () => {
    maxGrewBytes = Math.max(maxGrewBytes, t.rss() - rssBefore);
    return (await currentConnections(t.port)) === baseline;
  });
  const ms = Date.now() - started;
  for (const s of [reader, halfClosed]) {
    const gone = closedBy(s);
    s.resume();
    await gone;
  }
  console.log(
    `# ${t.name}: never-reading clients: RSS grew by at most ${maxGrewBytes} bytes, closed after ${ms} ms`,
  );
  assert.ok(maxGrewBytes < maxGrowthBytes, `RSS grew by ${maxGrewBytes} bytes`);
  assert.ok(ms >= t.requestTimeoutMs - 50, `closed after only ${ms} ms`);
  await probe(t.port, 'after-never-reads');
}

/**
 * 45 slowloris clients — a line that never ends, a body of `bodyBytes` that never ends, a long line
 * being discarded — trickle a byte every 50 ms: all are closed after the request timeout, a new
 * client is served meanwhile, and RSS grows by less than 32 MiB.
 */
export async function slowlorisClients(t: LimitTarget, bodyBytes: number): Promise<void> {
  const baseline = await currentConnections(t.port);
  const rssBefore = t.rss();
  const slow: net.Socket[] = [];
  for (let i = 0; i < 45; i++) {
    const s = await connectRaw(t.port);
    s.write(['stats-tube slow', `put 0 0 60 ${bodyBytes}\r\nabc`, 'y'.repeat(300)][i % 3] as string);
    slow.push(s);
  }
  const closed = Promise.all(slow.map(closedBy));
  const started = Date.now();
  let ticks = 0;
  const trickle = setInterval(() => {
    ticks++;
    for (const s of slow) if (!s.destroyed) s.write('z');
    if (ticks > 100) clearInterval(trickle);
  }, 50);
  try {
    await probe(t.port, 'during-slowloris');
    const rssDuring = t.rss() - rssBefore;
    await closed;
    const ms = Date.now() - started;
    console.log(
      `# ${t.name}: 45 slowloris clients: RSS grew by ${rssDuring} bytes, all closed after ${ms} ms`,
    );
    assert.ok(ms >= t.requestTimeoutMs - 50, `closed after only ${ms} ms`);
    assert.ok(ms < t.requestTimeoutMs + 3000, `closed after ${ms} ms`);
    assert.ok(rssDuring < 32 * MiB, `RSS grew by ${rssDuring} bytes`);
  } finally {
    clearInterval(trickle);
  }
  assert.equal(await currentConnections(t.port), baseline);
}
