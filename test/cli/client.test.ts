/**
 * The client subcommands (`stalkd put`, `reserve`, `peek`, `kick`, `delete`, `stats`, `tubes`,
 * `pause`, `clear`, `top`) run as child processes of the built CLI against three targets: a stalkd
 * node, the proxy in front of three stalkd nodes, and Debian's beanstalkd. Checked: human and
 * --json output, exit statuses, one-line errors, binary-safe bodies, --host/--port and their
 * environment defaults (STALKD_CLIENT_HOST / STALKD_CLIENT_PORT).
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Client } from '../../src/client';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { CLI_PATH, freePort } from '../support/cli-process';
import { startStalkdCluster } from '../support/proxy-harness';
import { BEANSTALKD_PATH, startReference } from '../support/reference';
import { whenInstalled } from '../support/requires';

interface CliResult {
  code: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: Buffer | string } = {},
) {
  return new Promise<CliResult>((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    delete env.STALKD_CLIENT_HOST;
    delete env.STALKD_CLIENT_PORT;
    Object.assign(env, options.env);
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** The result's stdout as JSON, after checking the command succeeded. */
function json<T = Record<string, unknown>>(r: CliResult): T {
  assert.equal(r.code, 0, `exit 0 expected; stderr: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A failed command: the status, and exactly one line on stderr matching `pattern`. */
function assertOneLineError(r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit ${code} expected; stdout: ${r.stdout}`);
  assert.equal(
    r.stderr.split('\n').filter((l) => l !== '').length,
    1,
    `one line: ${JSON.stringify(r.stderr)}`,
  );
  assert.match(r.stderr.trimEnd(), pattern);
}

interface Target {
  name: string;
  port: number;
  stop(): Promise<void>;
}

const TARGETS: Array<{ name: string; installed: boolean; start(): Promise<Target> }> = [
  {
    name: 'node',
    installed: true,
    async start() {
      const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
      return { name: 'node', port: server.port, stop: () => server.close() };
    },
  },
  {
    name: 'proxy',
    installed: true,
    async start() {
      const cluster = await startStalkdCluster(3);
      return { name: 'proxy', port: cluster.proxy.port, stop: () => cluster.stop() };
    },
  },
  {
    name: 'beanstalkd',
    installed: BEANSTALKD_PATH !== undefined,
    async start() {
      const ref = await startReference();
      return { name: 'beanstalkd', port: ref.port, stop: () => ref.stop() };
    },
  },
];

// The targets are independent: their suites run side by side (each spawns its commands in turn).
describe('cli client commands', { concurrency: TARGETS.length }, () => {
  const installed = TARGETS.filter((kind) => {
    whenInstalled(kind.installed, kind.name, () => {});
    return kind.installed;
  });
  for (const kind of installed) {
    describe(`cli client commands against ${kind.name}`, { concurrency: false }, () => {
      let target: Target;
      let client: Client;
      let tmp: string;
      let binaryId = 0;
      const tube = `cli-${kind.name}`;
      const at = (): string[] => ['--port', String(target.port)];
      const cli = (args: string[], input?: Buffer | string) =>
        runCli([...args, ...at()], input === undefined ? {} : { input });

      before(async () => {
        target = await kind.start();
        client = await Client.connect({ host: '127.0.0.1', port: target.port });
        tmp = mkdtempSync(join(tmpdir(), 'stalkd-cli-'));
      });
      after(async () => {
        await client.close();
        await target.stop();
        rmSync(tmp, { recursive: true, force: true });
      });

      test('cli: put takes the body from the argument, stdin or a file', async () => {
        const first = json<{ id: number; tube: string }>(await cli(['put', 'hello', '-t', tube, '--json']));
        assert.equal(first.tube, tube);
        assert.equal((await client.peek(first.id))?.body.toString(), 'hello');
        const fromStdin = await cli(['put', '-t', tube, '--pri', '5'], 'from stdin');
        assert.equal(fromStdin.code, 0, fromStdin.stderr);
        const id = Number(/^inserted (\d+)\n$/.exec(fromStdin.stdout)?.[1]);
        assert.equal((await client.peek(id))?.body.toString(), 'from stdin');
        assert.equal((await client.statsJob(id))?.pri, 5);
        const file = join(tmp, 'body.bin');
        writeFileSync(file, Buffer.from([0, 1, 2, 0x1b, 0x5b, 0xff]));
        const fromFile = json<{ id: number; bytes: number }>(
          await cli(['put', '-t', tube, '-f', file, '--json']),
        );
        assert.deepEqual((await client.peek(fromFile.id))?.body, Buffer.from([0, 1, 2, 0x1b, 0x5b, 0xff]));
        binaryId = fromFile.id;
        assertOneLineError(
          await cli(['put', '-t', tube, '-f', join(tmp, 'missing')]),
          /^stalkd put: cannot read .*ENOENT/,
        );
      });

      test('cli: tubes and stats, as tables/pairs and as JSON', async () => {
        const tubes = json<Array<Record<string, unknown>>>(await cli(['tubes', '--json']));
        const row = tubes.find((t) => t.name === tube);
        assert.equal(row?.['current-jobs-ready'], 3);
        const table = await cli(['tubes']);
        assert.match(table.stdout, /^TUBE +URGENT +READY +RESERVED/);
        assert.match(table.stdout, new RegExp(`^${tube} +1 +3 +0 +0 +0 +3 `, 'm'));
        assert.ok((await cli(['tubes', '--names'])).stdout.split('\n').includes(tube));
        const stats = json(await cli(['stats', tube, '--json']));
        assert.deepEqual(
          [stats.name, stats['current-jobs-ready'], stats['current-jobs-urgent']],
          [tube, 3, 1],
        );
        const server = await cli(['stats']);
        assert.match(server.stdout, /^current-jobs-urgent: +\d+$/m);
        assert.match(server.stdout, /^version: +\S+$/m);
        assertOneLineError(
          await cli(['stats', 'no-such-tube']),
          /^stalkd stats: tube no-such-tube not found$/,
        );
      });

      test('cli: peek by state or id; binary bodies as hex or raw, never as escapes', async () => {
        const next = json<{ id: number; body: string; encoding: string; stats: { tube: string } }>(
          await cli(['peek', '-t', tube, '-s', 'ready', '--json']),
        );
        assert.deepEqual([next.body, next.encoding, next.stats.tube], ['from stdin', 'utf8', tube]);
        const human = await cli(['peek', String(next.id)]);
        assert.match(human.stdout, new RegExp(`^job ${next.id} · 10 bytes · tube ${tube} · ready · pri 5`));
        const hex = await cli(['peek', String(binaryId)]);
        assert.match(hex.stdout, /· binary \(hex\)\n00000000 {2}00 01 02 1b 5b ff {2}/);
        assert.ok(!hex.stdoutBytes.includes(0x1b), 'no ESC byte reaches the terminal');
        const raw = await cli(['peek', String(binaryId), '--raw']);
        assert.deepEqual(raw.stdoutBytes, Buffer.from([0, 1, 2, 0x1b, 0x5b, 0xff]));
        const asJson = json<{ body: string; encoding: string }>(
          await cli(['peek', String(binaryId), '--json']),
        );
        assert.deepEqual(asJson, {
          ...asJson,
          body: Buffer.from([0, 1, 2, 0x1b, 0x5b, 0xff]).toString('base64'),
          encoding: 'base64',
        });
        assertOneLineError(
          await cli(['peek', '-t', tube, '-s', 'buried']),
          new RegExp(`^stalkd peek: no buried job in ${tube}$`),
        );
        assertOneLineError(await cli(['peek', '-s', 'sideways']), /argument 'sideways' is invalid/);
      });

      test('cli: reserve prints and releases by default, --delete consumes, --timeout gives exit 2', async () => {
        const looked = json<{ id: number; body: string; action: string }>(
          await cli(['reserve', '-t', tube, '--json']),
        );
        assert.deepEqual([looked.body, looked.action], ['from stdin', 'released']);
        assert.equal((await client.statsJob(looked.id))?.state, 'ready');
        assert.equal((await client.statsJob(looked.id))?.pri, 5, 'released with its priority');
        const taken = await cli(['reserve', '-t', tube, '--delete']);
        assert.match(taken.stdout, /^job \d+ · 10 bytes · tube .* · reserved .*\nfrom stdin\n\(deleted\)\n$/);
        assert.equal(await client.peek(looked.id), null);
        assertOneLineError(
          await cli(['reserve', '-t', `${tube}-empty`, '--timeout', '0']),
          /^stalkd reserve: no job within 0 s$/,
          2,
        );
      });

      test('cli: kick a tube or one job; delete; errors are one line with exit 1', async () => {
        await client.use(tube);
        const delayed = await client.put('later', { delaySecs: 3600 });
        assert.deepEqual(json(await cli(['kick', '10', '-t', tube, '--json'])), { kicked: 1, tube });
        assert.equal((await client.statsJob(delayed))?.state, 'ready');
        assertOneLineError(
          await cli(['kick', '--job', String(delayed)]),
          /^stalkd kick: job \d+ not found, or not buried/,
        );
        const del = await cli(['delete', String(delayed)]);
        assert.deepEqual([del.code, del.stdout], [0, `deleted ${delayed}\n`]);
        assertOneLineError(await cli(['delete', String(delayed)]), /^stalkd delete: not found .*: \d+$/);
        assertOneLineError(await cli(['delete', 'abc']), /^stalkd delete: "abc" is not a job id$/);
      });

      test('cli: pause and unpause a tube', async () => {
        assert.equal((await cli(['pause', tube, '7'])).stdout, `paused ${tube} for 7s\n`);
        assert.equal((await client.statsTube(tube))?.pause, 7);
        assert.deepEqual(json(await cli(['pause', tube, '0', '--json'])), { tube, delaySecs: 0 });
        assert.equal((await client.statsTube(tube))?.pause, 0);
        assertOneLineError(
          await cli(['pause', 'no-such-tube', '1']),
          /^stalkd pause: tube no-such-tube not found$/,
        );
        assertOneLineError(await cli(['pause', tube]), /missing required argument 'seconds'/);
      });

      test('cli: clear deletes ready, delayed and buried jobs with a progress bar', async () => {
        const bulk = `${tube}-bulk`;
        await client.use(bulk);
        for (let i = 0; i < 250; i++) void client.put(`job ${i}`);
        await client.put('delayed', { delaySecs: 3600 });
        await client.watch(bulk);
        const toBury = await client.reserveWithTimeout(0);
        assert.ok(typeof toBury === 'object');
        await client.bury(toBury.id, 1);
        const r = await cli(['clear', bulk, '--progress']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `cleared 251 jobs from ${bulk}\n`);
        assert.match(r.stderr, /clearing .* \[#{30}\] 100% 251\/251\n$/);
        const stats = await client.statsTube(bulk);
        assert.deepEqual(
          [stats?.['current-jobs-ready'], stats?.['current-jobs-delayed'], stats?.['current-jobs-buried']],
          [0, 0, 0],
        );
        await client.ignore(bulk);
      });

      test('cli: top prints one frame when stdout is not a terminal', async () => {
        const r = await cli(['top', '--interval', '150']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^stalkd top · 127\\.0\\.0\\.1:${target.port} · `));
        assert.match(r.stdout, /^jobs: \d+ ready, \d+ reserved/m);
        assert.match(r.stdout, /^TUBE +READY +RESERVED +DELAYED +BURIED +URGENT +PUT\/S +RSV\/S~/m);
        assert.match(r.stdout, new RegExp(`^${tube} +\\d+`, 'm'));
        const snap = json<{ tubes: Array<{ name: string }>; nodes: unknown[] }>(
          await cli(['top', '--json', '-i', '100']),
        );
        assert.ok(snap.tubes.some((t) => t.name === tube));
        assert.equal(snap.nodes.length, 1);
      });
    });
  }
});

describe('cli client commands: connection settings', () => {
  test('cli: STALKD_CLIENT_HOST/PORT are the defaults; --port wins', async () => {
    const server = await startNodeServer({ host: '127.0.0.1', port: 0 });
    try {
      const env = { STALKD_CLIENT_HOST: '127.0.0.1', STALKD_CLIENT_PORT: String(server.port) };
      const viaEnv = await runCli(['put', 'x', '--json'], { env });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      const dead = await freePort();
      const flagWins = await runCli(['stats', '--port', String(dead)], { env });
      assertOneLineError(
        flagWins,
        new RegExp(`^stalkd stats: cannot connect to 127\\.0\\.0\\.1:${dead}: ECONNREFUSED$`),
      );
    } finally {
      await server.close();
    }
  });

  test('cli: nothing listening is one line and exit 1, for every command', async () => {
    const dead = String(await freePort());
    for (const args of [
      ['put', 'x'],
      ['reserve'],
      ['peek', '1'],
      ['kick'],
      ['delete', '1'],
      ['tubes'],
      ['pause', 'a', '1'],
      ['clear', 'a'],
      ['top'],
    ]) {
      const r = await runCli([...args, '-p', dead]);
      assertOneLineError(
        r,
        new RegExp(`^stalkd ${args[0]}: cannot connect to 127\\.0\\.0\\.1:${dead}: ECONNREFUSED$`),
      );
    }
  });
});

whenInstalled(existsSync('/usr/bin/openssl'), 'openssl', () =>
  describe('cli client commands: TLS', () => {
    let dir: string;
    let node: NodeServer;
    let terminator: TlsServer;
    let port: number;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stalkd-cli-tls-'));
      const made = spawnSync('/usr/bin/openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=stalkd-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      assert.equal(made.status, 0, made.stderr.toString());
      node = await startNodeServer({ host: '127.0.0.1', port: 0 });
      // A TLS terminator in front of the node stands in for any TLS-serving beanstalkd endpoint.
      terminator = createTlsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (socket) => {
          const upstream = connect({ host: '127.0.0.1', port: node.port });
          socket.pipe(upstream).pipe(socket);
          socket.on('error', () => upstream.destroy());
          upstream.on('error', () => socket.destroy());
        },
      );
      terminator.listen(0, '127.0.0.1');
      await once(terminator, 'listening');
      port = (terminator.address() as AddressInfo).port;
    });
    after(async () => {
      await new Promise<void>((resolve) => terminator.close(() => resolve()));
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('cli: --tls-ca trusts the server; an untrusted certificate is one line and exit 1', async () => {
      const ca = join(dir, 'cert.pem');
      const put = await runCli(['put', 'over tls', '-p', String(port), '--tls-ca', ca, '--json']);
      const { id } = json<{ id: number }>(put);
      const peek = await runCli(['peek', String(id), '-p', String(port), '--tls-insecure', '--raw']);
      assert.equal(peek.stdout, 'over tls');
      assertOneLineError(
        await runCli(['stats', '-p', String(port), '--tls']),
        /^stalkd stats: cannot connect to 127\.0\.0\.1:\d+: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/,
      );
      const top = await runCli(['top', '-p', String(port), '--tls-ca', ca, '-i', '100']);
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^default +\d+/m);
      assertOneLineError(
        await runCli(['tubes', '-p', String(port), '--tls-ca', join(dir, 'nope.pem')]),
        /cannot read CA file/,
      );
    });
  }),
);
