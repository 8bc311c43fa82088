/**
 * Where listeners bind, TLS on the proxy's client listener (with and without client-certificate
 * verification, certificates made by the test with the openssl binary), and the admin token kept
 * out of logs and metrics. See docs/limits.md ("Network exposure").
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { Option } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { Client } from '../../src/client';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { makeCertificates, OPENSSL, verifyClientsArgs } from '../support/certificates';
import { freePort, httpGet } from '../support/cli-process';
import { connectRaw, type StalkdProcess, startNodeProcess, startProxyProcess } from '../support/processes';
import { whenInstalled } from '../support/requires';

function defaultOf(command: string, flag: string): unknown {
  const cmd = buildProgram().commands.find((c) => c.name() === command);
  const option = (cmd?.options as readonly Option[] | undefined)?.find((o) => o.long === flag);
  assert.ok(option, `${command} ${flag}`);
  return option.defaultValue;
}

/** Local addresses (a.b.c.d) of sockets listening on `port`, from /proc/net/tcp. */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    if (!local || state !== '0A') continue;
    const [ipHex, portHex] = local.split(':') as [string, string];
    if (portHex !== hexPort) continue;
    const bytes = (ipHex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16)).reverse();
    out.push(bytes.join('.'));
  }
  return out;
}

describe('network exposure', () => {
  test('security: client ports default to 0.0.0.0 (a drop-in beanstalkd), metrics and admin to 127.0.0.1', () => {
    assert.equal(defaultOf('node', '--listen'), '0.0.0.0');
    assert.equal(defaultOf('proxy', '--listen'), '0.0.0.0');
    assert.equal(defaultOf('node', '--metrics-host'), '127.0.0.1');
    assert.equal(defaultOf('proxy', '--metrics-host'), '127.0.0.1');
  });

  test('security: node and proxy listeners bind where their flags say; metrics stay on loopback by default', async () => {
    const node = await startNodeProcess(['--metrics-port', String(await freePort())]);
    const metricsPort = await freePort();
    const proxy = await startProxyProcess([node.port], ['--metrics-port', String(metricsPort)]);
    try {
      assert.deepEqual(listeningAddresses(node.port), ['127.0.0.1']);
      assert.deepEqual(listeningAddresses(proxy.port), ['127.0.0.1']);
      assert.deepEqual(listeningAddresses(metricsPort), ['127.0.0.1']);
      await proxy.untilStderr(new RegExp(`metrics 127\\.0\\.0\\.1:${metricsPort}\\n`));
    } finally {
      await proxy.kill();
      await node.kill();
    }
  });
});

whenInstalled(OPENSSL, 'openssl', () =>
  describe('proxy TLS', () => {
    let dir: string;
    let node: NodeServer;
    let file: (name: string) => string;
    let pem: (name: string) => Buffer;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stalkd-tls-'));
      makeCertificates(dir);
      file = (name) => join(dir, name);
      pem = (name) => readFileSync(file(name));
      node = await startNodeServer({ host: '127.0.0.1', port: 0 });
    });

    after(async () => {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Opens a TLS connection; resolves with what the server answered to `request` (or '' on refusal). */
    async function tlsExchange(
      port: number,
      options: tls.ConnectionOptions,
      request: string,
    ): Promise<string> {
      const socket = tls.connect({ host: '127.0.0.1', port, ...options });
      socket.on('error', () => {});
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text.endsWith('\r\n')) socket.end();
      });
      socket.once('secureConnect', () => socket.write(request));
      // Not events.once: that rejects on the 'error' a refused handshake emits first.
      await new Promise((resolve) => socket.once('close', resolve));
      return text;
    }

    test('security: proxy --tls-cert/--tls-key serves TLS clients (node:tls and src/client) and not plain ones', async () => {
      const proxy = await startProxyProcess(
        [node.port],
        ['--tls-cert', file('server.crt'), '--tls-key', file('server.key')],
      );
      try {
        await proxy.untilStderr(/tls on\n/);
        assert.equal(await tlsExchange(proxy.port, { ca: pem('ca.crt') }, 'use tls\r\n'), 'USING tls\r\n');
        const client = await Client.connect({
          host: '127.0.0.1',
          port: proxy.port,
          tls: { ca: pem('ca.crt') },
        });
        await client.use('tls-client');
        const id = await client.put('secret');
        await client.watch('tls-client');
        const job = await client.reserveWithTimeout(0);
        assert.ok(typeof job === 'object' && job.id === id && job.body.toString() === 'secret');
        assert.equal(await client.delete(id), 'DELETED');
        await client.close();
        // A plain client's command is not a TLS handshake: no beanstalkd reply, the proxy hangs up.
        const plain = await connectRaw(proxy.port);
        let text = '';
        plain.on('data', (c: Buffer) => {
          text += c.toString('latin1');
        });
        plain.write('list-tube-used\r\n');
        await once(plain, 'close');
        assert.doesNotMatch(text, /USING/);
        // Certificates are checked by clients too: one not trusting our CA refuses the proxy.
        await assert.rejects(Client.connect({ host: '127.0.0.1', port: proxy.port, tls: true }));
      } finally {
        await proxy.kill();
      }
    });

    test('security: proxy --tls-verify-clients refuses clients without a certificate from --tls-ca', async () => {
      const proxy = await startProxyProcess([node.port], verifyClientsArgs(file));
      try {
        await proxy.untilStderr(/tls on, client certificates required\n/);
        const ca = pem('ca.crt');
        const withCert = { ca, cert: pem('client.crt'), key: pem('client.key') };
        assert.equal(await tlsExchange(proxy.port, withCert, 'use mtls\r\n'), 'USING mtls\r\n');
        assert.equal(await tlsExchange(proxy.port, { ca }, 'use mtls\r\n'), '');
        const rogue = { ca, cert: pem('rogue-client.crt'), key: pem('rogue-client.key') };
        assert.equal(await tlsExchange(proxy.port, rogue, 'use mtls\r\n'), '');
        const client = await Client.connect({ host: '127.0.0.1', port: proxy.port, tls: withCert });
        assert.equal(await client.listTubeUsed(), 'default');
        await client.close();
      } finally {
        await proxy.kill();
      }
    });

    test('security: TLS flags that cannot work are refused at startup', async () => {
      const lone = spawnSync(process.execPath, [
        join(__dirname, '..', '..', 'src', 'cli', 'main.js'),
        'proxy',
        '--nodes',
        `127.0.0.1:${node.port}`,
        '--tls-cert',
        file('server.crt'),
      ]);
      assert.notEqual(lone.status, 0);
      assert.match(lone.stderr.toString(), /--tls-cert and --tls-key/);
    });
  }),
);

describe('admin token', () => {
  const TOKEN = 'tok-3f9a1c77e2d84b06-never-shown';

  for (const via of ['flag', 'env'] as const) {
    test(`security: the admin token (${via === 'flag' ? '--admin-token' : 'STALKD_ADMIN_TOKEN'}) never appears in -V -V logs, /metrics or other pages`, async () => {
      const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
      const metricsPort = await freePort();
      const args = ['--metrics-port', String(metricsPort), '-V'];
      if (via === 'flag') args.push('--admin-token', TOKEN);
      const saved = process.env.STALKD_ADMIN_TOKEN;
      if (via === 'env') process.env.STALKD_ADMIN_TOKEN = TOKEN;
      let proxy: StalkdProcess | undefined;
      try {
        proxy = await startProxyProcess([node.port], args);
        const client = await connectRaw(proxy.port);
        client.write('use x\r\nput 0 0 60 1\r\nx\r\nstats\r\n');
        client.destroy();
        const pages: string[] = [];
        for (const path of ['/metrics', '/livez', '/readyz', '/placement?tube=x', '/dashboard/', '/nope']) {
          pages.push((await httpGet(metricsPort, path)).body);
        }
        assert.match(pages[0] as string, /stalkd_/, 'metrics were served');
        const code = await proxy.stop();
        assert.equal(code, 0);
        assert.match(proxy.stderr(), /bind /, 'the verbose log was written');
        for (const text of [...pages, proxy.stderr()]) assert.ok(!text.includes(TOKEN), 'token leaked');
      } finally {
        if (saved === undefined) delete process.env.STALKD_ADMIN_TOKEN;
        else process.env.STALKD_ADMIN_TOKEN = saved;
        await proxy?.kill();
        await node.close();
      }
    });
  }
});
