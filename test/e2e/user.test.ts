/**
 * `-u USER` on node and proxy, checked on the running processes (/proc/PID/status): the user, its
 * primary group and its own supplementary groups (none of root's); the listener bound before
 * (the socket file is root's), the binlog opened after (its files are USER's) — beanstalkd's
 * order. Debian's beanstalkd is run with -u too: same user and group, but it keeps root's
 * supplementary groups (the documented difference). Errors: an unknown user, and -u without root.
 *
 * These tests need root, as CI runs (`.ci/run` runs as root); as anyone else they fail, saying so.
 * They create a system user `stalkd-test` with a supplementary group `stalkd-test-extra` when
 * missing (useradd/groupadd, left in place for the next run).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from '../../src/client';
import { CLI_PATH } from '../support/cli-process';
import { startStalkd } from '../support/processes';
import { BEANSTALKD_PATH } from '../support/reference';

const USER = 'stalkd-test';
const EXTRA_GROUP = 'stalkd-test-extra';
/** Started with root's group 0 as a supplementary group, to see who keeps it. */
const WITH_GROUP_0 = { command: 'setpriv', prefix: ['--groups', '0'] };

interface Ids {
  uid: number;
  gid: number;
  groups: number[];
}

/** USER as the system knows it: uid, primary gid, every group (id -G). */
function idsOf(name: string): Ids {
  const id = (flag: string) => execFileSync('id', [flag, name], { encoding: 'utf8' }).trim();
  return {
    uid: Number(id('-u')),
    gid: Number(id('-g')),
    groups: id('-G')
      .split(/\s+/)
      .map(Number)
      .sort((a, b) => a - b),
  };
}

/** Real, effective, saved and filesystem ids of a running process, and its supplementary groups. */
function processIds(pid: number): { uids: number[]; gids: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '')
      .map(Number)
      .sort((a, b) => a - b);
  return { uids: field('Uid'), gids: field('Gid'), groups: field('Groups') };
}

function ensureTestUser(): void {
  if (spawnSync('getent', ['group', EXTRA_GROUP]).status !== 0)
    execFileSync('groupadd', ['--system', EXTRA_GROUP]);
  if (spawnSync('getent', ['passwd', USER]).status !== 0)
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '-G', EXTRA_GROUP, USER]);
}

let root = '';
let user: Ids;
before(() => {
  assert.equal(
    process.geteuid?.(),
    0,
    '-u tests need root (CI runs .ci/run as root): run npm test as root to exercise them',
  );
  ensureTestUser();
  user = idsOf(USER);
  assert.ok(user.groups.length >= 2, `${USER} has a supplementary group (${user.groups})`);
  root = mkdtempSync(join(tmpdir(), 'stalkd-user-'));
  chmodSync(root, 0o755); // the user must be able to reach its directories below
});
after(() => rmSync(root, { recursive: true, force: true }));

function assertBecame(pid: number): void {
  const ids = processIds(pid);
  assert.deepEqual(ids.uids, [user.uid, user.uid, user.uid, user.uid], 'every uid is the user');
  assert.deepEqual(ids.gids, [user.gid, user.gid, user.gid, user.gid], 'every gid is its group');
  assert.deepEqual(ids.groups, user.groups, "the user's own supplementary groups, none of root's");
}

test('user: node -u binds as root, then becomes the user, then opens the binlog as the user', async () => {
  const dir = mkdtempSync(join(root, 'node-'));
  const binlog = join(dir, 'binlog');
  chownSync(dir, user.uid, user.gid);
  const socket = join(dir, 'node.sock');
  const args = ['node', '-l', `unix:${socket}`, '-u', USER, '-b', binlog];
  const node = await startStalkd(args, 15_000, WITH_GROUP_0);
  try {
    await node.untilStderr(new RegExp(`user=${USER}`));
    assertBecame(node.pid);
    assert.equal(statSync(socket).uid, 0, 'the socket was bound before the switch');
    const files = readdirSync(binlog);
    assert.ok(files.length > 0);
    for (const file of files)
      assert.equal(statSync(join(binlog, file)).uid, user.uid, `${file} was created after the switch`);
    const client = await connect({ host: `unix:${socket}`, port: 0 });
    assert.ok((await client.put('x')) > 0);
    client.close();
  } finally {
    assert.equal(await node.stop(), 0);
  }
});

test('user: proxy -u serves as the user', async () => {
  const node = await startStalkd(['node', '-l', '127.0.0.1', '-p', '0']);
  const args = ['proxy', '-l', '127.0.0.1', '-p', '0', '--nodes', node.address, '-u', USER];
  const proxy = await startStalkd(args, 15_000, WITH_GROUP_0);
  try {
    assertBecame(proxy.pid);
    const client = await connect({ host: '127.0.0.1', port: proxy.port });
    const id = await client.put('through the proxy');
    assert.equal((await client.peek(id))?.body.toString(), 'through the proxy');
    client.close();
  } finally {
    assert.equal(await proxy.stop(), 0);
    await node.stop();
  }
});

test('user: an unknown user and -u without root are refused with a message', () => {
  for (const command of ['node', 'proxy']) {
    const extra = command === 'proxy' ? ['--nodes', '127.0.0.1:1'] : [];
    const run = (user: string, options: { uid?: number; gid?: number } = {}) =>
      spawnSync(process.execPath, [CLI_PATH, command, '-l', '127.0.0.1', '-p', '0', '-u', user, ...extra], {
        encoding: 'utf8',
        timeout: 20_000,
        ...options,
      });
    const unknown = run('no-such-user-here');
    assert.equal(unknown.status, 1, unknown.stderr);
    assert.match(unknown.stderr, /^stalkd: -u no-such-user-here: no such user\n$/m);
    const notRoot = run('root', { uid: user.uid, gid: user.gid });
    assert.equal(notRoot.status, 1, notRoot.stderr);
    const message = `stalkd: -u root: only root can become another user (running as uid ${user.uid})\n`;
    assert.ok(notRoot.stderr.endsWith(message), notRoot.stderr);
  }
});

test("user: beanstalkd -u becomes the same user and group, and keeps its starter's groups", async () => {
  assert.ok(BEANSTALKD_PATH, 'needs beanstalkd (apt-get install beanstalkd), as .ci/run installs it');
  const args = ['--groups', '0', BEANSTALKD_PATH, '-V', '-l', '127.0.0.1', '-p', '0', '-u', USER];
  const server = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    // -V prints its bind line before the switch: wait, one loop turn at a time, until it switched.
    await once(server.stdout as NodeJS.ReadableStream, 'data');
    let ids = processIds(server.pid as number);
    for (let i = 0; i < 100_000 && ids.uids[0] !== user.uid; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      ids = processIds(server.pid as number);
    }
    assert.deepEqual(ids.uids, [user.uid, user.uid, user.uid, user.uid]);
    assert.deepEqual(ids.gids, [user.gid, user.gid, user.gid, user.gid]);
    assert.deepEqual(ids.groups, [0], "beanstalkd keeps its starter's supplementary groups");
  } finally {
    server.kill('SIGKILL');
    await once(server, 'exit');
  }
  const unknown = spawnSync(BEANSTALKD_PATH, ['-l', '127.0.0.1', '-p', '0', '-u', 'no-such-user-here'], {
    encoding: 'utf8',
  });
  assert.equal(unknown.status, 33, 'beanstalkd: exit 33 for an unknown user');
  assert.match(unknown.stderr, /no such user/);
});
