/**
 * The dashboard's connection to its own proxy's client port (peeks and admin actions go there, see
 * dashboard/ops-channel.ts) when that port serves TLS: how it trusts the proxy, which client
 * certificate it shows under --tls-verify-clients, and the startup check that it gets through.
 *
 * Trust: the connection goes from the proxy process to its own listener, at the listener's address
 * (127.0.0.1 for a wildcard bind), which the certificate rarely names (it names the host clients
 * use). A host-name check would fail, and switching verification off would accept anyone on that
 * address. Instead the certificate is pinned: the peer must present the leaf of --tls-cert itself
 * (same SHA-256 fingerprint) and prove in the handshake that it holds its key. The chain check still
 * runs first (Node calls checkServerIdentity only after it passes), anchored on the certificates of
 * --tls-cert with partial chains allowed, so the leaf is its own anchor whoever issued it, and on
 * --tls-ca for Node versions without allowPartialTrustChain (< 20.18), where the issuer must then
 * be in one of those two files. The startup check reports it if not.
 *
 * Identity: --tls-verify-clients refuses connections without a certificate signed by --tls-ca, the
 * dashboard's included. It presents --dashboard-tls-cert/--dashboard-tls-key. There is no implicit
 * fallback to the server's own pair: that works only when the client CA issued the server's
 * certificate for client use too, which is rarely so; give that pair explicitly if it is.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, createSecureContext, type PeerCertificate, type TlsOptions } from 'node:tls';
import { type Command, Option } from 'commander';
import type { OpsTarget } from '../dashboard/ops-channel';
import { type TlsCommandOptions, TlsConfigError } from './limit-options';

export interface DashboardTlsCommandOptions {
  dashboardTlsCert?: string;
  dashboardTlsKey?: string;
}

export function addDashboardTlsOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--dashboard-tls-cert <file>',
        "with --tls-verify-clients: client certificate (PEM, from --tls-ca) for the dashboard's admin connection",
      ),
    )
    .addOption(new Option('--dashboard-tls-key <file>', 'private key (PEM) for --dashboard-tls-cert'));
}

/**
 * tls.connect options for the dashboard's connection to this proxy's listener; undefined when the
 * listener is plain (`serverTls` undefined). `dashboardOn`: the dashboard will be served (metrics
 * port and not --no-dashboard). Throws TlsConfigError for flags that cannot work together.
 */
export function dashboardTlsFromOptions(
  opts: TlsCommandOptions & DashboardTlsCommandOptions,
  serverTls: TlsOptions | undefined,
  dashboardOn: boolean,
): ConnectionOptions | undefined {
  const hasIdentity = Boolean(opts.dashboardTlsCert || opts.dashboardTlsKey);
  if (hasIdentity && !opts.tlsVerifyClients)
    throw new TlsConfigError(
      '--dashboard-tls-cert/--dashboard-tls-key are for --tls-verify-clients (without it nobody asks for them)',
    );
  if (hasIdentity && !(opts.dashboardTlsCert && opts.dashboardTlsKey))
    throw new TlsConfigError('give both --dashboard-tls-cert and --dashboard-tls-key');
  if (!serverTls) return undefined;
  if (opts.tlsVerifyClients && dashboardOn && !hasIdentity)
    throw new TlsConfigError(
      "--tls-verify-clients: the dashboard sends peeks and admin actions through this proxy's client " +
        'port and needs a client certificate signed by --tls-ca: give --dashboard-tls-cert and ' +
        '--dashboard-tls-key, or turn the dashboard off with --no-dashboard',
    );
  // tlsFromOptions read the files into Buffers.
  assert.ok(Buffer.isBuffer(serverTls.cert), 'server certificate chain as a Buffer');
  const ownChain = serverTls.cert;
  const pinned = new X509Certificate(ownChain).fingerprint256;
  const options: ConnectionOptions = {
    ca: Buffer.isBuffer(serverTls.ca) ? [ownChain, serverTls.ca] : [ownChain],
    allowPartialTrustChain: true,
    checkServerIdentity: (_host: string, peer: PeerCertificate) =>
      peer.fingerprint256 === pinned
        ? undefined
        : new Error(`the listener presented ${peer.fingerprint256}, not this proxy's --tls-cert (${pinned})`),
  };
  if (opts.dashboardTlsCert && opts.dashboardTlsKey) {
    options.cert = readFileSync(opts.dashboardTlsCert);
    options.key = readFileSync(opts.dashboardTlsKey);
    try {
      createSecureContext({ cert: options.cert, key: options.key }); // unreadable PEM, key not the cert's
    } catch (err) {
      throw new TlsConfigError(`--dashboard-tls-cert/--dashboard-tls-key: ${(err as Error).message}`);
    }
  }
  return options;
}

/**
 * Startup check: one connection to the listener through the dashboard's own OpsChannel, and one
 * command the proxy answers itself (list-tube-used). The command is needed because under TLS 1.3 a
 * refused client certificate shows only after the handshake, as the listener closing the
 * connection. Throws TlsConfigError saying what failed. The connection counts once in the proxy's
 * total-connections.
 */
export async function checkDashboardTls(
  target: OpsTarget,
  verifyClients: boolean,
  timeoutMs = 5000,
): Promise<void> {
  const { OpsChannel } = await import('../dashboard/ops-channel');
  const ops = new OpsChannel(target, timeoutMs);
  try {
    await ops.run((client) => client.listTubeUsed());
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    const reason = err instanceof Error ? err.message : String(err);
    // The listener refuses a client certificate by closing the connection, without a reason.
    const hint =
      verifyClients && (code === 'CLOSED' || code === 'ECONNRESET')
        ? ' (the listener refused --dashboard-tls-cert: it must be signed by --tls-ca, be valid now ' +
          'and allow client authentication)'
        : '';
    throw new TlsConfigError(
      `the dashboard cannot use this proxy's TLS listener ${target.host}:${target.port}: ` +
        `${code ? `${code}: ` : ''}${reason}${hint}; fix the certificates or run with --no-dashboard`,
    );
  } finally {
    ops.close();
  }
}
