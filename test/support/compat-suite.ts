/**
 * The third-party client suite (test/e2e/compat-clients-*.test.ts). Third-party Node clients against each target: the workflows their users run, with results as
 * each library parses them. The libraries' YAML loaders type values loosely, so these tests also
 * pin the server's byte format: `- 123` in list-tubes is the number 123 for all three; in 1.12
 * `name: 123` and `os: #1 SMP …` are unquoted (→ 123 and null, `#` starts a YAML comment) while
 * 1.13 quotes them (→ "123" and the string).
 *
 * Library quirks worked around (not server behaviour):
 * - jackd 2.2.2 sends `pause-tube` without CRLF: the test completes the line itself.
 * - jackd 2.2.2 JSON-encodes Buffer payloads (`{"type":"Buffer",…}`): binary bodies go as strings.
 * - jackd 2.2.2 mis-frames a body reply followed by another reply in the same chunk: no pipelining.
 * - node-beanstalk JSON-(de)serializes payloads by default: a pass-through serializer is used for
 *   bytes; its put signature is (payload, ttr, priority, delay).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { client as FiveBeansClient } from 'fivebeans';
import type JackdClient from 'jackd';
import type { Client as NodeBeanstalkClient } from 'node-beanstalk';
import { parse as parseYaml } from 'yaml';
import { type ClientServer, type ClientTarget, withServer } from './client-targets';
import {
  closeFiveBeans,
  closeJackd,
  closeNodeBeanstalk,
  errorMessage,
  fb,
  openFiveBeans,
  openJackd,
  openNodeBeanstalk,
  word,
} from './compat-libraries';

const MAX_JOB_BYTES = 1000;
const BINARY = 'a\r\nb\0c\r\n\u00ff';

/** What the library's YAML loader makes of tube `123` in stats-tube/stats-job, and of `os`. */
function expectedLoose(target: ClientTarget): { tube123: unknown; osType: string } {
  return target.version === '1.12'
    ? { tube123: 123, osType: 'object' }
    : { tube123: '123', osType: 'string' };
}

function withLibrary<C>(
  target: ClientTarget,
  open: (server: ClientServer) => Promise<C>,
  close: (c: C) => Promise<void>,
  fn: (c: C, server: ClientServer) => Promise<void>,
): Promise<void> {
  return withServer(target, ['-z', String(MAX_JOB_BYTES)], async (server) => {
    const c = await open(server);
    try {
      await fn(c, server);
    } finally {
      await close(c);
    }
  });
}

/** Registers the compat tests for each target (node targets, or the proxy targets). */
export function compatSuite(targets: readonly ClientTarget[]): void {
  for (const target of targets) {
    const loose = expectedLoose(target);

    describe(`compat fivebeans 1.5.0 on ${target.name}`, () => {
      const session = (fn: (c: FiveBeansClient) => Promise<void>) =>
        withLibrary(target, openFiveBeans, closeFiveBeans, fn);

      test('fivebeans: put/reserve/delete with a binary body; ids', () =>
        session(async (c) => {
          const body = Buffer.from(BINARY, 'latin1');
          const [id] = await fb<[string]>((cb) => c.put(10, 0, 60, body, cb));
          assert.match(id, /^\d+$/);
          const [reservedId, payload] = await fb<[string, Buffer]>((cb) => c.reserve(cb));
          assert.equal(reservedId, id);
          assert.deepEqual(payload, body);
          await fb((cb) => c.destroy(id, cb));
          await assert.rejects(
            fb((cb) => c.destroy(id, cb)),
            word('NOT_FOUND'),
          );
        }));

      test('fivebeans: multi-tube watch, reserve-with-timeout 0 expiry', () =>
        session(async (c) => {
          await fb((cb) => c.use('tube-a', cb));
          const [a] = await fb<[string]>((cb) => c.put(5, 0, 60, 'in a', cb));
          await fb((cb) => c.use('tube-b', cb));
          const [b] = await fb<[string]>((cb) => c.put(1, 0, 60, 'in b', cb));
          assert.deepEqual(await fb((cb) => c.watch('tube-a', cb)), ['2']);
          assert.deepEqual(await fb((cb) => c.watch('tube-b', cb)), ['3']);
          assert.deepEqual(await fb((cb) => c.ignore('default', cb)), ['2']);
          // Ignoring moves the last watched tube into the freed slot (beanstalkd's swap-remove).
          assert.deepEqual(await fb((cb) => c.list_tubes_watched(cb)), [['tube-b', 'tube-a']]);
          assert.equal((await fb<[string, Buffer]>((cb) => c.reserve_with_timeout(0, cb)))[0], b);
          assert.equal((await fb<[string, Buffer]>((cb) => c.reserve_with_timeout(0, cb)))[0], a);
          await assert.rejects(
            fb((cb) => c.reserve_with_timeout(0, cb)),
            word('TIMED_OUT'),
          );
          assert.deepEqual(await fb((cb) => c.ignore('tube-a', cb)), ['1']);
          await assert.rejects(
            fb((cb) => c.ignore('tube-b', cb)),
            word('NOT_IGNORED'),
          );
        }));

      test('fivebeans: release, bury, kick, kick-job, peek*', () =>
        session(async (c) => {
          const [id] = await fb<[string]>((cb) => c.put(10, 0, 60, 'job', cb));
          await fb((cb) => c.reserve(cb));
          await fb((cb) => c.release(id, 20, 100, cb));
          assert.equal((await fb<[string, Buffer]>((cb) => c.peek_delayed(cb)))[0], id);
          await assert.rejects(
            fb((cb) => c.peek_ready(cb)),
            word('NOT_FOUND'),
          );
          assert.deepEqual(await fb((cb) => c.kick(10, cb)), ['1']);
          await fb((cb) => c.reserve(cb));
          await fb((cb) => c.touch(id, cb));
          await fb((cb) => c.bury(id, 30, cb));
          assert.deepEqual(await fb((cb) => c.peek_buried(cb)), [id, Buffer.from('job')]);
          await fb((cb) => c.kick_job(id, cb));
          await assert.rejects(
            fb((cb) => c.kick_job(id, cb)),
            word('NOT_FOUND'),
          );
          assert.deepEqual(await fb((cb) => c.peek_ready(cb)), [id, Buffer.from('job')]);
          assert.deepEqual(await fb((cb) => c.peek(id, cb)), [id, Buffer.from('job')]);
          const [stats] = await fb<[Record<string, unknown>]>((cb) => c.stats_job(id, cb));
          assert.deepEqual(
            [stats.state, stats.pri, stats.releases, stats.buries, stats.kicks],
            ['ready', 30, 1, 1, 2],
          );
        }));

      test('fivebeans: stats, stats-tube, stats-job, list-*, pause-tube as the library parses them', () =>
        session(async (c) => {
          await fb((cb) => c.use('123', cb));
          const [id] = await fb<[string]>((cb) => c.put(1, 0, 60, 'x', cb));
          assert.deepEqual(await fb((cb) => c.list_tube_used(cb)), ['123']);
          assert.deepEqual(await fb((cb) => c.list_tubes(cb)), [['default', 123]]);
          await fb((cb) => c.pause_tube('123', 100, cb));
          await assert.rejects(
            fb((cb) => c.pause_tube('nope', 1, cb)),
            word('NOT_FOUND'),
          );
          const [tube] = await fb<[Record<string, unknown>]>((cb) => c.stats_tube('123', cb));
          assert.equal(tube.name, loose.tube123);
          assert.deepEqual([tube['current-jobs-urgent'], tube.pause, tube['cmd-pause-tube']], [1, 100, 1]);
          await assert.rejects(
            fb((cb) => c.stats_tube('nope', cb)),
            word('NOT_FOUND'),
          );
          const [job] = await fb<[Record<string, unknown>]>((cb) => c.stats_job(id, cb));
          assert.equal(job.tube, loose.tube123);
          assert.equal(String(job.id), id);
          const [stats] = await fb<[Record<string, unknown>]>((cb) => c.stats(cb));
          assert.equal(stats['max-job-size'], MAX_JOB_BYTES);
          assert.equal(stats.draining, false);
          assert.equal(typeof stats.version, 'string');
          assert.equal(typeof stats.os, loose.osType);
          assert.equal(typeof stats['rusage-utime'], 'number');
        }));

      test('fivebeans: JOB_TOO_BIG, then the connection goes on', () =>
        session(async (c) => {
          await assert.rejects(
            fb((cb) => c.put(0, 0, 60, Buffer.alloc(MAX_JOB_BYTES + 1), cb)),
            word('JOB_TOO_BIG'),
          );
          const [id] = await fb<[string]>((cb) => c.put(0, 0, 60, Buffer.alloc(MAX_JOB_BYTES), cb));
          assert.equal((await fb<[string, Buffer]>((cb) => c.peek(id, cb)))[1].length, MAX_JOB_BYTES);
        }));
    });

    describe(`compat jackd 2.2.2 on ${target.name}`, () => {
      const session = (fn: (c: JackdClient) => Promise<void>) =>
        withLibrary(target, openJackd, closeJackd, fn);

      test('jackd: put/reserve/delete with CRLF and NUL in the body; ids', () =>
        session(async (c) => {
          const id = await c.put(BINARY, { priority: 10 });
          assert.match(id, /^\d+$/);
          const job = await c.reserve();
          assert.equal(job.id, id);
          assert.deepEqual(job.payload, Buffer.from(BINARY));
          await c.delete(id);
          await assert.rejects(c.delete(id), errorMessage('NOT_FOUND'));
        }));

      test('jackd: multi-tube watch, reserve-with-timeout 0 expiry', () =>
        session(async (c) => {
          await c.use('tube-a');
          const a = await c.put('in a', { priority: 5 });
          await c.use('tube-b');
          const b = await c.put('in b', { priority: 1 });
          assert.equal(await c.watch('tube-a'), 2);
          assert.equal(await c.watch('tube-b'), 3);
          assert.equal(await c.ignore('default'), 2);
          assert.deepEqual(parseYaml(await c.listTubesWatched('')), ['tube-b', 'tube-a']); // swap-remove
          assert.equal((await c.reserveWithTimeout(0)).id, b);
          assert.equal((await c.reserveWithTimeout(0)).id, a);
          await assert.rejects(c.reserveWithTimeout(0), errorMessage('TIMED_OUT'));
          assert.equal(await c.ignore('tube-a'), 1);
          await assert.rejects(c.ignore('tube-b'), errorMessage('NOT_IGNORED'));
        }));

      test('jackd: release, bury, kick, kick-job, peek*', () =>
        session(async (c) => {
          const id = await c.put('job', { priority: 10 });
          await c.reserve();
          await c.release(id, { priority: 20, delay: 100 });
          assert.equal((await c.peekDelayed()).id, id);
          await assert.rejects(c.peekReady(), errorMessage('NOT_FOUND'));
          assert.equal(await c.kick(10), 1);
          await c.reserve();
          await c.touch(id);
          await c.bury(id, 30);
          assert.deepEqual(await c.peekBuried(), { id, payload: Buffer.from('job') });
          await c.kickJob(id);
          await assert.rejects(c.kickJob(id), errorMessage('NOT_FOUND'));
          assert.deepEqual(await c.peekReady(), { id, payload: Buffer.from('job') });
          assert.deepEqual(await c.peek(id), { id, payload: Buffer.from('job') });
          const stats = parseYaml(await c.statsJob(id));
          assert.deepEqual(
            [stats.state, stats.pri, stats.releases, stats.buries, stats.kicks],
            ['ready', 30, 1, 1, 2],
          );
        }));

      test('jackd: stats, stats-tube, stats-job, list-*, pause-tube parsed with yaml', () =>
        session(async (c) => {
          await c.use('123');
          const id = await c.put('x', { priority: 1 });
          assert.equal(await c.listTubeUsed(), '123');
          assert.deepEqual(parseYaml(await c.listTubes('')), ['default', 123]);
          // jackd 2.2.2 omits the CRLF after pause-tube; complete the line so the server answers.
          const paused = c.pauseTube('123', { delay: 100 });
          await c.write(Buffer.from('\r\n'));
          await paused;
          const tube = parseYaml(await c.statsTube('123'));
          assert.equal(tube.name, loose.tube123);
          assert.deepEqual([tube['current-jobs-urgent'], tube.pause, tube['cmd-pause-tube']], [1, 100, 1]);
          await assert.rejects(c.statsTube('nope'), /Unexpected response: NOT_FOUND/);
          const job = parseYaml(await c.statsJob(id));
          assert.equal(job.tube, loose.tube123);
          assert.equal(String(job.id), id);
          const stats = parseYaml(await c.stats(''));
          assert.equal(stats['max-job-size'], MAX_JOB_BYTES);
          assert.equal(stats.draining, false);
          assert.equal(typeof stats.os, loose.osType);
        }));

      test('jackd: JOB_TOO_BIG, then the connection goes on', () =>
        session(async (c) => {
          await assert.rejects(c.put('x'.repeat(MAX_JOB_BYTES + 1)), errorMessage('JOB_TOO_BIG'));
          const id = await c.put('y'.repeat(MAX_JOB_BYTES));
          assert.equal((await c.peek(id)).payload.length, MAX_JOB_BYTES);
        }));
    });

    describe(`compat node-beanstalk 1.6.7 on ${target.name}`, () => {
      const session = (fn: (c: NodeBeanstalkClient, server: ClientServer) => Promise<void>) =>
        withLibrary(target, (server) => openNodeBeanstalk(server), closeNodeBeanstalk, fn);

      test('node-beanstalk: put/reserve/delete with a binary body, JSON payloads; ids are numbers', () =>
        session(async (c, server) => {
          const body = Buffer.from(BINARY, 'latin1');
          const put = await c.put(body, 60, 10, 0);
          assert.equal(put.state, 'ready');
          assert.ok(Number.isSafeInteger(put.id));
          const job = await c.reserve();
          assert.deepEqual(job, { id: put.id, payload: body });
          assert.equal(await c.delete(put.id), true);
          assert.equal(await c.delete(put.id), false);
          const json = await openNodeBeanstalk(server, null);
          try {
            const jsonPut = await json.put({ task: 'mail', to: ['a', 'b'] });
            assert.deepEqual(await json.peek(jsonPut.id), {
              id: jsonPut.id,
              payload: { task: 'mail', to: ['a', 'b'] },
            });
          } finally {
            await closeNodeBeanstalk(json);
          }
        }));

      test('node-beanstalk: multi-tube watch, reserve-with-timeout 0 expiry', () =>
        session(async (c) => {
          await c.use('tube-a');
          const a = await c.put('in a', 60, 5);
          await c.use('tube-b');
          const b = await c.put('in b', 60, 1);
          assert.equal(await c.watch('tube-a'), 2);
          assert.equal(await c.watch('tube-b'), 3);
          assert.equal(await c.ignore('default'), true);
          assert.deepEqual(await c.listTubesWatched(), ['tube-b', 'tube-a']); // swap-remove
          assert.equal((await c.reserveWithTimeout(0))?.id, b.id);
          assert.equal((await c.reserveWithTimeout(0))?.id, a.id);
          assert.equal(await c.reserveWithTimeout(0), null);
          assert.equal(await c.ignore('tube-a'), true);
          assert.equal(await c.ignore('tube-b'), false);
        }));

      test('node-beanstalk: release, bury, kick, kick-job, peek*', () =>
        session(async (c) => {
          const { id } = await c.put('job', 60, 10);
          await c.reserve();
          assert.equal(await c.release(id, 20, 100), 'delayed');
          assert.equal((await c.peekDelayed())?.id, id);
          assert.equal(await c.peekReady(), null);
          assert.equal(await c.kick(10), 1);
          await c.reserve();
          assert.equal(await c.touch(id), true);
          assert.equal(await c.bury(id, 30), true);
          assert.equal(await c.bury(id, 30), false);
          assert.deepEqual(await c.peekBuried(), { id, payload: Buffer.from('job') });
          assert.equal(await c.kickJob(id), true);
          assert.equal(await c.kickJob(id), false);
          assert.deepEqual(await c.peekReady(), { id, payload: Buffer.from('job') });
          assert.equal(await c.peek(id + 1000), null);
          const stats = await c.statsJob(id);
          assert.deepEqual(
            [stats?.state, stats?.pri, stats?.releases, stats?.buries, stats?.kicks],
            ['ready', 30, 1, 1, 2],
          );
        }));

      test('node-beanstalk: stats, stats-tube, stats-job, list-*, pause-tube as the library parses them', () =>
        session(async (c) => {
          await c.use('123');
          const { id } = await c.put('x', 60, 1);
          assert.equal(await c.listTubeUsed(), '123');
          assert.deepEqual(await c.listTubes(), ['default', 123]);
          assert.equal(await c.pauseTube('123', 100), true);
          assert.equal(await c.pauseTube('nope', 100), false);
          const tube = await c.statsTube('123');
          assert.equal(tube?.name, loose.tube123);
          assert.deepEqual(
            [tube?.['current-jobs-urgent'], tube?.pause, tube?.['cmd-pause-tube']],
            [1, 100, 1],
          );
          assert.equal(await c.statsTube('nope'), null);
          const job = await c.statsJob(id);
          assert.equal(job?.tube, loose.tube123);
          assert.equal(job?.id, id);
          assert.equal(await c.statsJob(id + 1000), null);
          const stats = await c.stats();
          assert.equal(stats['max-job-size'], MAX_JOB_BYTES);
          assert.equal(stats.draining, false);
          assert.equal(typeof stats.os, loose.osType);
        }));

      test('node-beanstalk: JOB_TOO_BIG, then the connection goes on', () =>
        session(async (c) => {
          await assert.rejects(
            c.put('x'.repeat(MAX_JOB_BYTES + 1)),
            // ES5-compiled Error subclass: not `instanceof BeanstalkError`, but name and code are set.
            (err: unknown) =>
              err instanceof Error &&
              err.name === 'BeanstalkError' &&
              (err as { code?: unknown }).code === 'JOB_TOO_BIG',
          );
          const { id } = await c.put('y'.repeat(MAX_JOB_BYTES));
          const job = await c.peek(id);
          assert.ok(job);
          assert.equal((job.payload as Buffer).length, MAX_JOB_BYTES);
        }));
    });
  }
}
