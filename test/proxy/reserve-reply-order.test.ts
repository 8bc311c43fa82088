/**
 * Issue 17's lost delivery, at the proxy: a node whose replies come out of order (b31a58c fixed
 * the node; test/replication/node-shard.test.ts "reply order of a cancelled wait") answered a
 * cancelled x-reserve-wait with NOT_WAITING and the x-cancel with the RESERVED meant for the wait.
 * The proxy took NOT_WAITING as the wait's answer and dropped the cancel's reply, so the job stayed
 * reserved on the client's node connection — open as long as the client — until its TTR. A RESERVED
 * that answers anything but a reserve now closes that connection, which gives the job back.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { startProxyServer } from '../../src/proxy/server';
import { startNodeServer } from '../../src/server/node-server';
import { RawClient } from '../support/proxy-harness';

const cleanups: Array<() => Promise<unknown> | undefined> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/**
 * A stalkd node whose reply order is broken the way the old one's was: a wait stays pending, and
 * an x-cancel sent while it waits is answered NOT_WAITING, then the wait's RESERVED. Records the
 * connections that carried a wait and whether each was closed.
 */
class SwappingNode {
  readonly waiters: Array<{ closed: Promise<unknown> }> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<SwappingNode> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const node = new SwappingNode(server, (server.address() as { port: number }).port);
    server.on('connection', (socket) => node.serve(socket));
    return node;
  }

  close(): Promise<unknown> {
    return new Promise((resolve) => this.server.close(resolve));
  }

  private serve(socket: Socket): void {
    socket.on('error', () => {});
    const closed = once(socket, 'close');
    let buf = '';
    let waiting = false;
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let eol = buf.indexOf('\r\n'); eol >= 0; eol = buf.indexOf('\r\n')) {
        const [word = '', arg = ''] = buf.slice(0, eol).split(' ');
        buf = buf.slice(eol + 2);
        if (word === 'x-reserve-wait') {
          waiting = true;
          this.waiters.push({ closed });
        } else if (word === 'x-cancel' && waiting) {
          waiting = false;
          socket.write('NOT_WAITING\r\nRESERVED 5 1 0 1\r\nx\r\n');
        } else socket.write(answer(word, arg));
      }
    });
  }
}

function answer(word: string, arg: string): string {
  if (word === 'x-hello') return 'OK stalkd swapping\r\n';
  if (word === 'use') return `USING ${arg}\r\n`;
  if (word === 'watch' || word === 'ignore') return 'WATCHING 1\r\n';
  if (word === 'x-cancel') return 'NOT_WAITING\r\n';
  return 'UNKNOWN_COMMAND\r\n';
}

test('reserve across nodes: a RESERVED that answers an x-cancel closes that node connection (the job is given back)', async () => {
  const good = await startNodeServer({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => good.close());
  const swapping = await SwappingNode.start();
  cleanups.push(() => swapping.close());
  const proxy = await startProxyServer({
    port: 0,
    nodes: [
      { index: 0, name: 'good', host: '127.0.0.1', port: good.port },
      { index: 1, name: 'swapping', host: '127.0.0.1', port: swapping.port },
    ],
    pool: { nodeTimeoutMs: 5000, probeIntervalMs: 60_000, backoffMinMs: 50, backoffMaxMs: 400 },
  });
  cleanups.push(() => proxy.close());
  const names = Array.from({ length: 40 }, (_, i) => `q${i}`);
  const onGood = names.find((t) => proxy.routing.ownerOf(t) === 0) as string;
  const onSwapping = names.find((t) => proxy.routing.ownerOf(t) === 1) as string;
  const client = await RawClient.open(proxy.port);
  cleanups.push(async () => client.close());
  await client.cmd(`use ${onGood}`);
  const id = await client.put('job');
  await client.cmd(`watch ${onGood}`);
  await client.cmd(`watch ${onSwapping}`);
  await client.cmd('ignore default');

  // Both nodes get a wait; the good one answers at once, so the swapping one is sent x-cancel.
  const reply = await client.cmd('reserve-with-timeout 5');
  assert.equal(reply.line, `RESERVED ${id} 3`);
  const wait = swapping.waiters[0];
  assert.ok(wait, 'the swapping node was sent a wait');
  // The RESERVED came back as the cancel's reply: the proxy must close that connection (a node
  // releases every reservation of a closed connection) instead of keeping it open with the job.
  const kept = new Promise((_, reject) => {
    setTimeout(() => reject(new Error('the node connection holding the job was kept open')), 5000).unref();
  });
  await Promise.race([wait.closed, kept]);
  assert.equal((await client.cmd(`delete ${id}`)).line, 'DELETED', 'the client goes on');
});
