/**
 * Every client command against each target (Debian's beanstalkd; stalkd's node once added to
 * CLIENT_TARGETS): results, NOT_FOUND paths, binary bodies, stats typing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, type Job, ProtocolError, SERVER_STATS_FIELDS } from '../../src/client';
import {
  type ClientServer,
  type ClientTarget,
  selectedClientTargets,
  withServer,
} from '../support/client-targets';

type Session = (c: Client, server: ClientServer) => Promise<void>;

function withClient(target: ClientTarget, args: readonly string[], fn: Session): Promise<void> {
  return withServer(target, args, async (server) => {
    const c = await Client.connect({ host: server.host, port: server.port });
    try {
      await fn(c, server);
    } finally {
      await c.close();
    }
  });
}

function asJob(value: Job | string | null): Job {
  assert.ok(value !== null && typeof value === 'object', `expected a job, got ${String(value)}`);
  return value;
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

for (const target of selectedClientTargets()) {
  describe(`client commands on ${target.name}`, () => {
    test('client put/reserve/delete: binary bodies with CRLF and NUL come back byte-exact', () =>
      withClient(target, [], async (c) => {
        const bodies = [
          Buffer.from('a\r\nb\0c\r\n'),
          Buffer.from('\r\n'),
          Buffer.alloc(0),
          allBytes,
          Buffer.from('RESERVED 1 1\r\nx\r\n'),
        ];
        const ids: number[] = [];
        for (const body of bodies) ids.push(await c.put(body));
        assert.ok(ids.every((id) => Number.isSafeInteger(id) && id > 0));
        for (let i = 0; i < bodies.length; i++) {
          const job = asJob(await c.reserveWithTimeout(0));
          assert.equal(job.id, ids[i]);
          assert.deepEqual(job.body, bodies[i]);
          assert.equal(await c.delete(job.id), 'DELETED');
        }
        assert.equal(await c.delete(ids[0] as number), 'NOT_FOUND');
      }));

    test('client put: string bodies are sent as UTF-8; a 64 KiB body round-trips', () =>
      withClient(target, ['-z', '70000'], async (c) => {
        const id = await c.put('héllo ✓');
        assert.equal(asJob(await c.peek(id)).body.toString('utf8'), 'héllo ✓');
        const big = Buffer.alloc(65536);
        for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 13) & 0xff;
        const bigId = await c.put(big);
        assert.deepEqual(asJob(await c.peek(bigId)).body, big);
        assert.equal(await c.delete(id), 'DELETED');
        const job = asJob(await c.reserve());
        assert.equal(job.id, bigId);
        assert.deepEqual(job.body, big);
      }));

    test('client put: pri, delay and ttr reach the server (stats-job)', () =>
      withClient(target, [], async (c) => {
        const id = await c.put('x', { pri: 4294967295, delaySecs: 100, ttrSecs: 0 });
        const stats = await c.statsJob(id);
        assert.ok(stats);
        assert.equal(stats.id, id);
        assert.equal(stats.tube, 'default');
        assert.equal(stats.state, 'delayed');
        assert.equal(stats.pri, 4294967295);
        assert.equal(stats.delay, 100);
        assert.equal(stats.ttr, 1); // ttr 0 is raised to 1 by the server
        assert.equal(await c.statsJob(id + 1000), null);
        assert.throws(() => c.put('x', { pri: 4294967296 }), RangeError);
        assert.throws(() => c.put('x', { ttrSecs: -1 }), RangeError);
      }));

    test('client tubes: use, watch, ignore, list-tube-used, list-tubes(-watched)', () =>
      withClient(target, [], async (c) => {
        assert.equal(await c.listTubeUsed(), 'default');
        assert.equal(await c.use('123'), '123');
        assert.equal(await c.listTubeUsed(), '123');
        assert.equal(await c.watch('a$b_c(d)+e/f;g.h'), 2);
        assert.equal(await c.watch('a$b_c(d)+e/f;g.h'), 2);
        assert.equal(await c.watch('true'), 3);
        assert.deepEqual(await c.listTubesWatched(), ['default', 'a$b_c(d)+e/f;g.h', 'true']);
        assert.deepEqual((await c.listTubes()).sort(), ['123', 'a$b_c(d)+e/f;g.h', 'default', 'true'].sort());
        assert.equal(await c.ignore('default'), 2);
        assert.equal(await c.ignore('never-watched'), 2);
        assert.equal(await c.ignore('true'), 1);
        assert.equal(await c.ignore('a$b_c(d)+e/f;g.h'), 'NOT_IGNORED');
        assert.throws(() => c.use('a\r\nb'), TypeError);
      }));

    test('client reserve: TIMED_OUT, DEADLINE_SOON, reserve-job and NOT_FOUND', () =>
      withClient(target, [], async (c) => {
        assert.equal(await c.reserveWithTimeout(0), 'TIMED_OUT');
        const a = await c.put('a', { ttrSecs: 1 });
        const b = await c.put('b', { delaySecs: 100 });
        assert.equal(asJob(await c.reserve()).id, a);
        // Holding a ttr-1 job with nothing ready: the server answers DEADLINE_SOON at once.
        assert.equal(await c.reserve(), 'DEADLINE_SOON');
        assert.equal(await c.reserveWithTimeout(5), 'DEADLINE_SOON');
        assert.equal(await c.reserveJob(a), 'NOT_FOUND'); // already reserved (by us)
        const delayed = asJob(await c.reserveJob(b));
        assert.deepEqual(delayed, { id: b, body: Buffer.from('b') });
        assert.equal(await c.reserveJob(b + 1000), 'NOT_FOUND');
      }));

    test('client release/bury/touch/kick/kick-job with their NOT_FOUND paths', () =>
      withClient(target, [], async (c, server) => {
        const other = await Client.connect({ host: server.host, port: server.port });
        try {
          const ids = [await c.put('1'), await c.put('2'), await c.put('3')];
          const [j1, j2, j3] = ids as [number, number, number];
          assert.equal(await c.touch(j1), 'NOT_FOUND');
          assert.equal(asJob(await c.reserve()).id, j1);
          assert.equal(await c.touch(j1), 'TOUCHED');
          assert.equal(await other.release(j1, 1, 0), 'NOT_FOUND'); // not the owner
          assert.equal(await other.bury(j1, 1), 'NOT_FOUND');
          assert.equal(await c.release(j1, 5, 0), 'RELEASED');
          assert.equal(await c.release(j1, 5, 0), 'NOT_FOUND');
          assert.equal(await c.bury(j1, 5), 'NOT_FOUND');
          assert.equal(asJob(await c.reserveJob(j2)).id, j2);
          assert.equal(await c.bury(j2, 7), 'BURIED');
          assert.equal(asJob(await c.reserveJob(j3)).id, j3);
          assert.equal(await c.release(j3, 9, 100), 'RELEASED');
          assert.equal((await c.statsJob(j3))?.state, 'delayed');
          assert.equal(await c.kickJob(j1), 'NOT_FOUND'); // ready
          assert.equal(await c.kick(10), 1); // buried first: j2
          assert.equal((await c.statsJob(j2))?.state, 'ready');
          assert.equal(await c.kick(10), 1); // then delayed: j3
          assert.equal(await c.kick(10), 0);
          assert.equal(asJob(await c.reserveJob(j3)).id, j3);
          assert.equal(await c.bury(j3, 0), 'BURIED');
          assert.equal(await c.kickJob(j3), 'KICKED');
          assert.equal(await c.kickJob(j3 + 1000), 'NOT_FOUND');
          const stats = await c.statsJob(j2);
          assert.deepEqual([stats?.pri, stats?.buries, stats?.kicks], [7, 1, 1]);
        } finally {
          await other.close();
        }
      }));

    test('client peek, peek-ready, peek-delayed, peek-buried on the used tube', () =>
      withClient(target, [], async (c) => {
        assert.equal(await c.peekReady(), null);
        assert.equal(await c.peekDelayed(), null);
        assert.equal(await c.peekBuried(), null);
        assert.equal(await c.peek(1_000_000), null);
        await c.use('peeks');
        const ready = await c.put('ready', { pri: 5 });
        await c.put('later', { pri: 1, delaySecs: 200 });
        const delayed = await c.put('soon', { delaySecs: 100 });
        const buried = await c.put('buried');
        assert.equal(asJob(await c.reserveJob(buried)).id, buried);
        assert.equal(await c.bury(buried, 0), 'BURIED');
        assert.deepEqual(await c.peekReady(), { id: ready, body: Buffer.from('ready') });
        assert.deepEqual(await c.peekDelayed(), { id: delayed, body: Buffer.from('soon') });
        assert.deepEqual(await c.peekBuried(), { id: buried, body: Buffer.from('buried') });
        assert.deepEqual(await c.peek(buried), { id: buried, body: Buffer.from('buried') });
        await c.use('default');
        assert.equal(await c.peekReady(), null);
      }));

    test('client stats: all 51 keys with typed values', () =>
      withClient(target, ['-z', '1234'], async (c) => {
        await c.put('x');
        const stats = await c.stats();
        assert.deepEqual(Object.keys(stats).sort(), Object.keys(SERVER_STATS_FIELDS).sort());
        const typeOfKind = {
          number: 'number',
          seconds: 'number',
          string: 'string',
          quoted: 'string',
          word: 'string',
          boolean: 'boolean',
        };
        for (const [key, kind] of Object.entries(SERVER_STATS_FIELDS)) {
          const value = (stats as unknown as Record<string, unknown>)[key];
          assert.equal(typeof value, typeOfKind[kind], `${key}: ${String(value)}`);
        }
        assert.equal(stats['max-job-size'], 1234);
        assert.equal(stats['current-jobs-ready'], 1);
        assert.ok(stats['cmd-put'] >= 1);
        assert.equal(stats.draining, false);
        assert.match(stats.version, /^\d+\.\d+/);
        assert.match(stats.id, /^[0-9a-f]{16}$/);
        assert.ok(stats['current-connections'] >= 1);
      }));

    test('client stats-tube and pause-tube', () =>
      withClient(target, [], async (c) => {
        assert.equal(await c.statsTube('nope'), null);
        assert.equal(await c.pauseTube('nope', 10), 'NOT_FOUND');
        await c.use('123');
        await c.put('x', { pri: 1 });
        assert.equal(await c.pauseTube('123', 100), 'PAUSED');
        const tube = await c.statsTube('123');
        assert.ok(tube);
        assert.equal(tube.name, '123');
        assert.equal(tube['current-jobs-ready'], 1);
        assert.equal(tube['current-jobs-urgent'], 1);
        assert.equal(tube['current-using'], 1);
        assert.equal(tube['cmd-pause-tube'], 1);
        assert.equal(tube.pause, 100);
        assert.ok(tube['pause-time-left'] >= 98 && tube['pause-time-left'] <= 100);
        await c.watch('123');
        await c.ignore('default');
        assert.equal(await c.reserveWithTimeout(0), 'TIMED_OUT'); // paused
        assert.equal(await c.pauseTube('123', 0), 'PAUSED');
        assert.equal(asJob(await c.reserveWithTimeout(1)).body.toString(), 'x');
      }));

    test('client errors: JOB_TOO_BIG and BAD_FORMAT reject with ProtocolError, stream stays in sync', () =>
      withClient(target, ['-z', '100'], async (c) => {
        const tooBig = c.put(Buffer.alloc(101, 0x0a));
        const badName = c.use('-bad');
        const after = c.put(Buffer.alloc(100, 0x0d));
        await assert.rejects(
          tooBig,
          (err: unknown) => err instanceof ProtocolError && err.code === 'JOB_TOO_BIG',
        );
        await assert.rejects(
          badName,
          (err: unknown) => err instanceof ProtocolError && err.code === 'BAD_FORMAT',
        );
        const id = await after;
        assert.deepEqual(asJob(await c.peek(id)).body, Buffer.alloc(100, 0x0d));
        const unknown = await c.raw('frobnicate 1');
        assert.equal(unknown.word, 'UNKNOWN_COMMAND');
        assert.equal((await c.raw('put 0 0 10 2', 'ab')).line, `INSERTED ${id + 1}`);
        assert.equal((await c.raw('peek-ready')).body?.toString(), 'ab'); // pri 0 beats 1024
        assert.throws(() => c.raw('stats\r\nstats'), TypeError);
      }));

    test('client errors: DRAINING rejects put with ProtocolError', async () => {
      await withServer(target, [], async (server) => {
        assert.ok(server.drain, 'every client target can enter drain mode');
        const c = await Client.connect({ host: server.host, port: server.port });
        try {
          await server.drain();
          await assert.rejects(
            c.put('x'),
            (err: unknown) => err instanceof ProtocolError && err.code === 'DRAINING',
          );
          assert.equal((await c.stats()).draining, true);
        } finally {
          await c.close();
        }
      });
    });
  });
}
