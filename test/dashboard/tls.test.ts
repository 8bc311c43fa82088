/**
 * The dashboard of a proxy whose client listener serves TLS: its peeks and admin actions go to that
 * listener over TLS (pinned to the proxy's own certificate), with a client certificate from
 * --dashboard-tls-cert/--dashboard-tls-key when the listener requires one; a dashboard that could
 * not get through stops the proxy at startup. Certificates from test/support/certificates.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { dashboardTlsFromOptions } from '../../src/cli/dashboard-tls';
import { Client } from '../../src/client';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { makeCertificates, OPENSSL, verifyClientsArgs } from '../support/certificates';
import { freePort } from '../support/cli-process';
import { Viewer } from '../support/dashboard-harness';
import { runCliToExit } from '../support/node-process';
import { startProxyProcess } from '../support/processes';
import { whenInstalled } from '../support/requires';

const TOKEN = 'tls-admin-token-5e21';

whenInstalled(OPENSSL, 'openssl', () =>
  describe("dashboard over the proxy's TLS listener", () => {
    let dir: string;
    let nodes: NodeServer[];
    const file = (name: string): string => join(dir, name);
    const pem = (name: string): Buffer => readFileSync(file(name));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stalkd-dashboard-tls-'));
      makeCertificates(dir);
      nodes = [
        await startNodeServer({ host: '127.0.0.1', port: 0 }),
        await startNodeServer({ host: '127.0.0.1', port: 0 }),
      ];
    });

    after(async () => {
      await Promise.all(nodes.map((n) => n.close()));
      rmSync(dir, { recursive: true, force: true });
    });

    /**
     * A proxy process with TLS flags `tlsArgs`, its dashboard on a metrics port with the admin token;
     * through the dashboard: peek, pause, kick (shared ops connection) and clear (a dedicated one),
     * each checked with a TLS client of the test's own (`clientTls`).
     */
    async function adminActionsOverTls(tlsArgs: string[], clientTls: tls.ConnectionOptions): Promise<void> {
      const metricsPort = await freePort();
      const proxy = await startProxyProcess(
        nodes.map((n) => n.port),
        ['--metrics-port', String(metricsPort), '--admin-token', TOKEN, ...tlsArgs],
      );
      let client: Client | undefined;
      let viewer: Viewer | undefined;
      try {
        client = await Client.connect({ host: '127.0.0.1', port: proxy.port, tls: clientTls });
        await client.use('tls-admin');
        const later = await client.put('later', { delaySecs: 3600 });
        const now = await client.put('now');
        viewer = await Viewer.open(`http://127.0.0.1:${metricsPort}`);
        const peek = await viewer.request({ op: 'peek', tube: 'tls-admin', state: 'ready', token: TOKEN });
        assert.equal(peek.ok, true, peek.error);
        assert.equal((peek.result?.job as { id: number } | undefined)?.id, now);

        const paused = await viewer.request({ op: 'pause', tube: 'tls-admin', delaySecs: 30, token: TOKEN });
        assert.equal(paused.ok, true, paused.error);
        assert.equal((await client.statsTube('tls-admin'))?.pause, 30);

        const kicked = await viewer.request({ op: 'kick', tube: 'tls-admin', bound: 1, token: TOKEN });
        assert.deepEqual([kicked.ok, kicked.result], [true, { kicked: 1 }], kicked.error);
        assert.equal((await client.statsJob(later))?.state, 'ready');

        const deleted = await viewer.request({ op: 'delete', jobId: now, token: TOKEN });
        assert.equal(deleted.ok, true, deleted.error);
        assert.equal(await client.peek(now), null);

        const cleared = await viewer.request({ op: 'clear', tube: 'tls-admin', token: TOKEN });
        assert.deepEqual(cleared.result, { tube: 'tls-admin', deleted: 1, total: 1, reservedLeft: 0 });
        assert.equal(await client.peek(later), null);
      } finally {
        viewer?.close();
        await client?.close();
        await proxy.kill();
      }
    }

    test('dashboard-tls: with --tls-cert/--tls-key, peeks and admin actions go over TLS and take effect', async () => {
      await adminActionsOverTls(['--tls-cert', file('server.crt'), '--tls-key', file('server.key')], {
        ca: pem('ca.crt'),
      });
    });

    test('dashboard-tls: with --tls-verify-clients, the dashboard presents --dashboard-tls-cert; the proxy certificate need not name 127.0.0.1 nor come from --tls-ca', async () => {
      // other-server names only queue.example.com and comes from other-ca; clients come from ca.
      const mtls = [
        ...verifyClientsArgs(file, 'other-server'),
        '--dashboard-tls-cert',
        file('client.crt'),
        '--dashboard-tls-key',
        file('client.key'),
      ];
      await adminActionsOverTls(mtls, {
        ca: pem('other-ca.crt'),
        servername: 'queue.example.com',
        cert: pem('client.crt'),
        key: pem('client.key'),
      });
    });

    test('dashboard-tls: --tls-verify-clients with the dashboard on and no usable client identity stops the proxy at startup', async () => {
      const mtls = verifyClientsArgs(file);
      const nodeList = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
      const base = ['proxy', '-l', '127.0.0.1', '-p', '0', '--nodes', nodeList, ...mtls];
      const metrics = ['--metrics-port', String(await freePort())];
      const missing = await runCliToExit([...base, ...metrics]);
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(
        missing.stderr,
        /--tls-verify-clients: .*give --dashboard-tls-cert and --dashboard-tls-key/,
      );
      // Signed by another CA: the listener refuses it, which the startup check finds.
      const rogue = [
        '--dashboard-tls-cert',
        file('rogue-client.crt'),
        '--dashboard-tls-key',
        file('rogue-client.key'),
      ];
      const refused = await runCliToExit([...base, ...metrics, ...rogue, '-V']);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /the dashboard cannot use this proxy's TLS listener 127\.0\.0\.1:\d+: /);
      assert.match(refused.stderr, /refused --dashboard-tls-cert/);
      assert.doesNotMatch(refused.stderr, /^bind /m, 'it stopped before announcing its listener');
      const mismatched = [
        '--dashboard-tls-cert',
        file('client.crt'),
        '--dashboard-tls-key',
        file('rogue-client.key'),
      ];
      const mismatch = await runCliToExit([...base, ...metrics, ...mismatched]);
      assert.equal(mismatch.code, 1, mismatch.stderr);
      assert.match(mismatch.stderr, /--dashboard-tls-cert\/--dashboard-tls-key: .*key values mismatch/);
      // Without a dashboard nobody needs the identity.
      const headless = await startProxyProcess(
        nodes.map((n) => n.port),
        [...mtls, '--metrics-port', String(await freePort()), '--no-dashboard'],
      );
      await headless.kill();
    });

    test('dashboard-tls: dashboard identity flags without --tls-verify-clients are refused', async () => {
      const exit = await runCliToExit([
        'proxy',
        '--nodes',
        `127.0.0.1:${nodes[0]?.port}`,
        '--tls-cert',
        file('server.crt'),
        '--tls-key',
        file('server.key'),
        '--dashboard-tls-cert',
        file('client.crt'),
        '--dashboard-tls-key',
        file('client.key'),
      ]);
      assert.equal(exit.code, 1, exit.stderr);
      assert.match(exit.stderr, /--dashboard-tls-cert\/--dashboard-tls-key are for --tls-verify-clients/);
    });

    test("dashboard-tls: the dashboard's connection accepts only the proxy's own certificate, not another from the same CA", async () => {
      const options = dashboardTlsFromOptions(
        { tlsCert: file('server.crt'), tlsKey: file('server.key'), tlsCa: file('ca.crt') },
        { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt') },
        true,
      );
      assert.ok(options);
      // `client` comes from the same CA (so the chain check passes) and names no host (so only the
      // pin can tell it from the proxy's certificate).
      for (const [name, accepted] of [
        ['server', true],
        ['client', false],
      ] as const) {
        const listener = tls.createServer({ cert: pem(`${name}.crt`), key: pem(`${name}.key`) }, (s) =>
          s.end(),
        );
        listener.listen(0, '127.0.0.1');
        await once(listener, 'listening');
        const address = listener.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        try {
          const attempt = Client.connect({ host: '127.0.0.1', port, tls: options });
          if (accepted) await (await attempt).close();
          else await assert.rejects(attempt, /not this proxy's --tls-cert/);
        } finally {
          listener.close();
        }
      }
    });
  }),
);
