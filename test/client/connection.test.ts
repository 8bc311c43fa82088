/**
 * Client connection behaviour: pipelining and FIFO matching, close/quit, server close, connect
 * failures, and replies only a scripted fake server sends (OUT_OF_MEMORY, garbage, …).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { Client, ConnectionError, type Job, ProtocolError } from '../../src/client';
import { selectedClientTargets, withServer } from '../support/client-targets';

const isClosedError = (err: unknown): boolean =>
  err instanceof ConnectionError && (err.code === 'CLOSED' || err.code === 'ECONNRESET');

for (const target of selectedClientTargets()) {
  describe(`client connection on ${target.name}`, () => {
    test('client pipelining: 1000 puts, reserves and deletes in flight at once, matched in order', () =>
      withServer(target, [], async (server) => {
        const c = await Client.connect({ host: server.host, port: server.port });
        try {
          const puts: Promise<number>[] = [];
          for (let i = 0; i < 1000; i++) puts.push(c.put(`job ${i}\r\n`, { pri: 100 }));
          assert.equal(c.inflightCount, 1000);
          const ids = await Promise.all(puts);
          for (let i = 1; i < ids.length; i++) assert.equal(ids[i], (ids[i - 1] as number) + 1);
          const reserves: Promise<Job | string>[] = [];
          for (let i = 0; i < 1000; i++) reserves.push(c.reserveWithTimeout(0));
          const jobs = await Promise.all(reserves);
          jobs.forEach((job, i) => {
            assert.deepEqual(job, { id: ids[i], body: Buffer.from(`job ${i}\r\n`) });
          });
          const deletes = await Promise.all(ids.map((id) => c.delete(id)));
          assert.ok(deletes.every((word) => word === 'DELETED'));
          assert.equal((await c.stats())['current-jobs-reserved'], 0);
          assert.equal(c.inflightCount, 0);
        } finally {
          await c.close();
        }
      }));

    test('client pipelining: a blocking reserve holds later replies on its connection', () =>
      withServer(target, [], async (server) => {
        const worker = await Client.connect({ host: server.host, port: server.port });
        const producer = await Client.connect({ host: server.host, port: server.port });
        try {
          const order: string[] = [];
          const reserved = worker.reserve().then((job) => order.push(`reserved ${(job as Job).body}`));
          const used = worker.listTubeUsed().then((tube) => order.push(`using ${tube}`));
          await producer.stats(); // a full round trip elsewhere: nothing came back on `worker`
          assert.deepEqual(order, []);
          assert.equal(worker.inflightCount, 2);
          await producer.put('wake');
          await Promise.all([reserved, used]);
          assert.deepEqual(order, ['reserved wake', 'using default']);
        } finally {
          await worker.close();
          await producer.close();
        }
      }));

    test('client close: server going away rejects every in-flight and later command', () =>
      withServer(target, [], async (server) => {
        const c = await Client.connect({ host: server.host, port: server.port });
        // Handlers are attached before the server goes, so the rejections are never unhandled.
        const blocked = assert.rejects(c.reserve(), isClosedError);
        const queued = assert.rejects(c.stats(), isClosedError);
        await server.stop();
        await blocked;
        await queued;
        assert.ok(isClosedError(await c.closed));
        await assert.rejects(c.put('x'), isClosedError);
        assert.equal(c.inflightCount, 0);
      }));

    test('client close: close() rejects in-flight commands with CLOSED', () =>
      withServer(target, [], async (server) => {
        const c = await Client.connect({ host: server.host, port: server.port });
        const blocked = c.reserveWithTimeout(100);
        await c.close();
        await assert.rejects(
          blocked,
          (err: unknown) => err instanceof ConnectionError && err.code === 'CLOSED',
        );
        await assert.rejects(
          c.listTubes(),
          (err: unknown) => err instanceof ConnectionError && err.code === 'CLOSED',
        );
        await c.close(); // idempotent
      }));

    test('client quit: earlier commands are answered, later ones reject', () =>
      withServer(target, [], async (server) => {
        const c = await Client.connect({ host: server.host, port: server.port });
        const put = c.put('before quit');
        const quit = c.quit();
        await assert.rejects(
          c.stats(),
          (err: unknown) => err instanceof ConnectionError && err.code === 'CLOSED',
        );
        const id = await put;
        await quit;
        const check = await Client.connect({ host: server.host, port: server.port });
        try {
          assert.equal((await check.peek(id))?.body.toString(), 'before quit');
        } finally {
          await check.close();
        }
      }));
  });
}

const sockets = new Set<net.Socket>();

/** A server that answers each command line with the next scripted reply (put bodies skipped). */
async function startFakeServer(script: (line: string) => Buffer | string | undefined): Promise<net.Server> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n');
        if (end < 0) return;
        const line = pending.subarray(0, end).toString('latin1');
        const bytes = /^put \d+ \d+ \d+ (\d+)$/.exec(line)?.[1];
        const skip = end + 2 + (bytes === undefined ? 0 : Number(bytes) + 2);
        if (pending.length < skip) return;
        pending = pending.subarray(skip);
        const reply = script(line);
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  server.close();
  for (const socket of sockets) socket.destroy();
  await once(server, 'close');
}

const protocolError = (code: string, extra?: (err: ProtocolError) => boolean) => (err: unknown) =>
  err instanceof ProtocolError && err.code === code && (extra === undefined || extra(err));

describe('client against a scripted server', () => {
  test('client errors: server error words reject with ProtocolError; outcomes resolve', async () => {
    const replies = [
      'OUT_OF_MEMORY\r\n',
      'INTERNAL_ERROR\r\n',
      'EXPECTED_CRLF\r\n',
      'DRAINING\r\n',
      'BURIED 7\r\n',
      'DELETED\r\n', // not a put reply
      'INSERTED 9007199254740991\r\n',
      'INSERTED 9007199254740992\r\n', // beyond 2^53
      'OK 8\r\nname: x\n\r\n', // stats-tube body without "---"
      'UNKNOWN_COMMAND\r\n',
      'NOT_FOUND\r\n',
    ];
    const server = await startFakeServer(() => replies.shift());
    const c = await Client.connect({ host: '127.0.0.1', port: portOf(server) });
    try {
      const results = await Promise.allSettled([
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.put('a'),
        c.statsTube('t'),
        c.kick(1),
        c.statsTube('t'),
      ]);
      const reason = (i: number): unknown => {
        const r = results[i];
        assert.equal(r?.status, 'rejected', `result ${i}`);
        return r.reason;
      };
      assert.ok(protocolError('OUT_OF_MEMORY')(reason(0)));
      assert.ok(protocolError('INTERNAL_ERROR')(reason(1)));
      assert.ok(protocolError('EXPECTED_CRLF')(reason(2)));
      assert.ok(protocolError('DRAINING')(reason(3)));
      assert.ok(protocolError('BURIED', (e) => e.id === 7)(reason(4)));
      assert.ok(protocolError('UNEXPECTED', (e) => e.word === 'DELETED' && e.command === 'put')(reason(5)));
      assert.deepEqual(results[6], { status: 'fulfilled', value: 9007199254740991 });
      assert.ok(protocolError('UNEXPECTED')(reason(7)));
      assert.ok(protocolError('UNEXPECTED', (e) => e.command === 'stats-tube')(reason(8)));
      assert.ok(protocolError('UNKNOWN_COMMAND')(reason(9)));
      assert.deepEqual(results[10], { status: 'fulfilled', value: null });
    } finally {
      await c.close();
      await closeServer(server);
    }
  });

  test('client errors: a garbage reply fails the connection with BAD_REPLY', async () => {
    const server = await startFakeServer((line) => (line === 'stats' ? 'OK 3\r\nabcde\r\n' : 'USING x\r\n'));
    const c = await Client.connect({ host: '127.0.0.1', port: portOf(server) });
    try {
      const results = await Promise.allSettled([c.use('x'), c.stats(), c.use('x')]);
      assert.deepEqual(results[0], { status: 'fulfilled', value: 'x' });
      const badReply = (r: PromiseSettledResult<unknown> | undefined): boolean =>
        r?.status === 'rejected' && r.reason instanceof ConnectionError && r.reason.code === 'BAD_REPLY';
      assert.ok(badReply(results[1]));
      assert.ok(badReply(results[2]));
      assert.equal((await c.closed).code, 'BAD_REPLY');
    } finally {
      await closeServer(server);
    }
  });

  test('client errors: a reply nobody asked for fails the connection with BAD_REPLY', async () => {
    const server = await startFakeServer(() => 'USING a\r\nUSING b\r\n');
    const c = await Client.connect({ host: '127.0.0.1', port: portOf(server) });
    try {
      assert.equal(await c.use('a'), 'a');
      assert.equal((await c.closed).code, 'BAD_REPLY');
    } finally {
      await closeServer(server);
    }
  });

  test('client connect: refused port rejects with ECONNREFUSED', async () => {
    const server = await startFakeServer(() => undefined);
    const port = portOf(server);
    await closeServer(server);
    await assert.rejects(
      Client.connect({ host: '127.0.0.1', port }),
      (err: unknown) => err instanceof ConnectionError && err.code === 'ECONNREFUSED',
    );
  });

  test('client connect: a TLS handshake that never completes times out with ETIMEDOUT', async () => {
    const server = await startFakeServer(() => undefined);
    try {
      const started = Date.now();
      await assert.rejects(
        Client.connect({ host: '127.0.0.1', port: portOf(server), tls: true, timeoutMs: 100 }),
        (err: unknown) => err instanceof ConnectionError && err.code === 'ETIMEDOUT',
      );
      assert.ok(Date.now() - started >= 90);
    } finally {
      await closeServer(server);
    }
  });
});
