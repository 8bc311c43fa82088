/**
 * Reading an inherited socket as sd_is_socket_inet/sd_is_socket_unix would: a listening TCP
 * (IPv4, IPv6 wildcard) or Unix stream socket gives its address from the kernel's tables; a
 * connected socket, a file or a closed fd gives none. LISTEN_* count only for the named pid.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { activatedBy, listeningAddressOfFd } from '../../src/net/inherited-socket';

const fdOf = (handle: unknown): number => (handle as { _handle: { fd: number } })._handle.fd;

test('inherited socket: listening TCP and Unix sockets give their address; others none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-fd-'));
  const servers: net.Server[] = [];
  try {
    for (const [listenArgs, expected] of [
      [[0, '127.0.0.1'], '127.0.0.1'],
      [[0, '::'], '::'],
      [[join(dir, 's.sock')], `unix:${join(dir, 's.sock')}`],
    ] as const) {
      const server = net.createServer();
      servers.push(server);
      server.listen(...(listenArgs as unknown as [number, string]));
      await once(server, 'listening');
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      assert.deepEqual(listeningAddressOfFd('self', fdOf(server)), { host: expected, port });
    }
    const tcp = servers[0]?.address() as net.AddressInfo;
    const client = net.connect(tcp.port, '127.0.0.1');
    await once(client, 'connect');
    assert.equal(listeningAddressOfFd('self', fdOf(client)), undefined, 'a connected socket');
    client.destroy();
    const file = openSync(join(dir, 'f'), 'w');
    assert.equal(listeningAddressOfFd('self', file), undefined, 'a file');
    closeSync(file);
    assert.equal(listeningAddressOfFd('self', 100_000), undefined, 'no such fd');
  } finally {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inherited socket: LISTEN_PID must name this process and LISTEN_FDS be a count', () => {
  assert.equal(activatedBy({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), true);
  assert.equal(activatedBy({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42), true);
  assert.equal(activatedBy({ LISTEN_PID: '43', LISTEN_FDS: '1' }, 42), false);
  assert.equal(activatedBy({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42), false);
  assert.equal(activatedBy({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42), false);
  assert.equal(activatedBy({ LISTEN_FDS: '1' }, 42), false);
});
