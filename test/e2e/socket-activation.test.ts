/**
 * systemd socket activation on node and proxy, as Debian's beanstalkd takes it: the listening
 * socket arrives as fd 3 with LISTEN_FDS and LISTEN_PID (which must be the server's own pid, hence
 * the `sh -c 'LISTEN_PID=$$ … exec'` wrapper), and -l/-p are then not used. Checked against the
 * node and the proxy (TCP and Unix sockets, two fds, a wrong LISTEN_PID, an fd that is no listening
 * socket), against Debian's beanstalkd with the same socket, under systemd's own
 * systemd-socket-activate with the shipped environment file, and the shipped units with
 * `systemd-analyze verify` (.ci/run installs systemd).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { connect } from '../../src/client';
import { CLI_PATH, freePort } from '../support/cli-process';
import { type SpawnHow, startStalkd } from '../support/processes';
import { BEANSTALKD_PATH } from '../support/reference';

const run = promisify(execFile);
const DEPLOY = join(__dirname, '..', '..', '..', 'deploy', 'systemd');
const root = mkdtempSync(join(tmpdir(), 'stalkd-activation-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Listening {
  fd: number;
  host: string;
  port: number;
  /** Stops this process accepting on it (the child keeps it); a Unix socket's file stays. */
  release(): Promise<void>;
}

/** A listening socket of this process, on 127.0.0.1 (free port) or on a Unix socket path. */
async function listening(path?: string): Promise<Listening> {
  const server = net.createServer();
  if (path) server.listen(path);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const release = async (): Promise<void> => {
    // Closing a Unix listener unlinks its path: move the file aside meanwhile (close then finds
    // nothing to unlink), as systemd keeps the file of a socket it passed on.
    if (path) renameSync(path, `${path}.kept`);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (path) renameSync(`${path}.kept`, path);
  };
  const address = server.address();
  return typeof address === 'string'
    ? { fd, host: `unix:${address}`, port: 0, release }
    : { fd, host: '127.0.0.1', port: address?.port ?? 0, release };
}

/** As systemd starts a service: `fds` at 3, 4, … and the LISTEN_* variables naming the server's pid. */
function activated(fds: number[], names = ''): SpawnHow {
  const vars = `LISTEN_PID=$$ LISTEN_FDS=${fds.length}${names ? ` LISTEN_FDNAMES=${names}` : ''}`;
  return {
    command: 'sh',
    prefix: ['-c', `${vars} exec "$@"`, 'sh'],
    options: { stdio: ['ignore', 'ignore', 'pipe', ...fds] },
  };
}

async function putAndPeek(host: string, port: number, body: string): Promise<void> {
  const client = await connect({ host, port });
  try {
    const id = await client.put(body);
    assert.equal((await client.peek(id))?.body.toString(), body);
  } finally {
    client.close();
  }
}

test('socket activation: node serves on the inherited TCP socket, ignores -l/-p, healthcheck finds it', async () => {
  const socket = await listening();
  const unused = await freePort();
  const node = await startStalkd(
    ['node', '-l', '127.0.0.1', '-p', String(unused)],
    15_000,
    activated([socket.fd], 'client'),
  );
  try {
    await socket.release(); // only the node accepts on it now
    assert.equal(node.address, `127.0.0.1:${socket.port}`);
    await node.untilStderr(/socket="systemd \(client\)"/);
    await putAndPeek('127.0.0.1', socket.port, 'activated');
    await assert.rejects(connect({ host: '127.0.0.1', port: unused }), /ECONNREFUSED/);
    const health = await run(process.execPath, [CLI_PATH, 'healthcheck', '--pid', String(node.pid)]);
    assert.equal(health.stdout, `healthy: pid ${node.pid} node, stats on 127.0.0.1:${socket.port}: ok\n`);
  } finally {
    assert.equal(await node.stop(), 0);
  }
});

test('socket activation: proxy serves on an inherited Unix socket; of two fds it takes the first', async () => {
  const dir = mkdtempSync(join(root, 'proxy-'));
  const backend = await startStalkd(['node', '-l', '127.0.0.1', '-p', '0']);
  const first = await listening(join(dir, 'proxy.sock'));
  const second = await listening();
  const proxy = await startStalkd(
    ['proxy', '--nodes', backend.address],
    15_000,
    activated([first.fd, second.fd]),
  );
  try {
    await first.release();
    await second.release();
    assert.equal(proxy.address, first.host, proxy.stderr());
    await proxy.untilStderr(/inherited 2 listening sockets; using only the first \(fd 3\)/);
    await putAndPeek(first.host, 0, 'activated proxy');
  } finally {
    assert.equal(await proxy.stop(), 0);
    await backend.stop();
  }
});

test('socket activation: LISTEN_PID of another process is ignored; an fd 3 that is no listening socket is refused', async () => {
  const socket = await listening();
  try {
    const notMine: SpawnHow = {
      options: {
        stdio: ['ignore', 'ignore', 'pipe', socket.fd],
        env: { ...process.env, LISTEN_PID: '1', LISTEN_FDS: '1' },
      },
    };
    const node = await startStalkd(['node', '-l', '127.0.0.1', '-p', '0'], 15_000, notMine);
    assert.notEqual(node.port, socket.port);
    const code = await node.stop();
    assert.equal(code, 0, node.stderr());
  } finally {
    await socket.release();
  }
  const file = openSync(join(root, 'not-a-socket'), 'w');
  for (const role of ['node', 'proxy']) {
    const extra = role === 'proxy' ? ['--nodes', '127.0.0.1:1'] : [];
    const r = spawnSync(
      'sh',
      ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', 'sh', process.execPath, CLI_PATH, role, ...extra],
      {
        stdio: ['ignore', 'ignore', 'pipe', file],
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^stalkd: inherited fd 3 is not a TCP or UNIX listening socket\n$/m);
  }
});

test('socket activation: Debian beanstalkd takes the same inherited socket the same way', async () => {
  assert.ok(BEANSTALKD_PATH, 'needs beanstalkd (apt-get install beanstalkd), as .ci/run installs it');
  const socket = await listening();
  const unused = await freePort();
  const how = activated([socket.fd]);
  const child = spawn(
    how.command as string,
    [...(how.prefix ?? []), BEANSTALKD_PATH, '-l', '127.0.0.1', '-p', String(unused)],
    {
      stdio: ['ignore', 'ignore', 'inherit', socket.fd],
    },
  );
  try {
    await socket.release();
    // The socket already listens: a client's connection waits in its backlog until beanstalkd runs.
    await putAndPeek('127.0.0.1', socket.port, 'activated beanstalkd');
    await assert.rejects(connect({ host: '127.0.0.1', port: unused }), /ECONNREFUSED/);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
});

/** KEY=VALUE lines of an EnvironmentFile (comments and blanks skipped). */
function environmentFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1] as string] = m[2] as string;
  }
  return env;
}

test("socket activation: under systemd's systemd-socket-activate with the shipped stalkd-node.default", async () => {
  const dir = mkdtempSync(join(root, 'sd-'));
  const path = join(dir, 'node.sock');
  const env: Record<string, string> = {
    ...environmentFile(join(DEPLOY, 'stalkd-node.default')),
    STALKD_BINLOG_DIR: join(dir, 'binlog'),
  };
  assert.equal(env.STALKD_PORT_NUMBER, '11300', 'the file names beanstalkd port');
  const setenv = Object.entries(env).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const child = spawn(
    'systemd-socket-activate',
    ['-l', path, ...setenv, process.execPath, CLI_PATH, 'node'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    while (!stderr.includes(`Listening on ${path} as 3.`))
      await once(child.stderr as NodeJS.ReadableStream, 'data');
    // The first connection starts stalkd (systemd-socket-activate then execs it with the socket).
    await putAndPeek(`unix:${path}`, 0, 'started by its first client');
    assert.match(stderr, new RegExp(`listen=unix:${path} socket=systemd`));
    assert.match(stderr, new RegExp(`binlog=${join(dir, 'binlog')}`));
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

test('deploy/systemd: the node and proxy units pass systemd-analyze verify', () => {
  const dir = mkdtempSync(join(root, 'units-'));
  // verify checks that ExecStart's program exists: the units' /usr/local/bin/stalkd becomes a
  // stand-in here, the only change made to the shipped files.
  const stalkd = join(dir, 'stalkd');
  writeFileSync(stalkd, `#!/bin/sh\nexec ${process.execPath} ${CLI_PATH} "$@"\n`);
  chmodSync(stalkd, 0o755);
  const units = ['stalkd-node.service', 'stalkd-node.socket', 'stalkd-proxy.service', 'stalkd-proxy.socket'];
  for (const unit of units) {
    const text = readFileSync(join(DEPLOY, unit), 'utf8');
    writeFileSync(join(dir, unit), text.replaceAll('/usr/local/bin/stalkd', stalkd));
  }
  copyFileSync(join(DEPLOY, 'stalkd-node.default'), join(dir, 'stalkd-node.default'));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(dir, u))], {
    encoding: 'utf8',
    cwd: dir,
  });
  assert.equal(r.error, undefined, 'systemd-analyze runs (apt-get install systemd; .ci/run installs it)');
  assert.equal(`${r.stdout}${r.stderr}`, '');
  assert.equal(r.status, 0);
});
