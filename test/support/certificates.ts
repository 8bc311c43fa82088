/**
 * Test certificates made with the openssl binary (EC P-256, valid one day), for the TLS tests. In
 * `dir`, each as NAME.crt + NAME.key:
 *
 *   ca, rogue-ca, other-ca   self-signed CAs
 *   server                   from ca, for IP 127.0.0.1
 *   client                   from ca
 *   rogue-client             from rogue-ca
 *   other-server             from other-ca, for DNS queue.example.com only (not 127.0.0.1)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL = spawnSync('openssl', ['version']).status === 0;

export function makeCertificates(dir: string): void {
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca', 'other-ca']) {
    ssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${ca}`,
    );
  }
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(join(dir, 'other-server.ext'), 'subjectAltName=DNS:queue.example.com\n');
  const issue = (name: string, ca: string, ext?: string): void => {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      ...(ext ? ['-extfile', ext] : []),
    );
  };
  issue('server', 'ca', 'server.ext');
  issue('client', 'ca');
  issue('rogue-client', 'rogue-ca');
  issue('other-server', 'other-ca', 'other-server.ext');
}

/**
 * Proxy flags for TLS on the client listener with client certificates verified against ca.crt,
 * from the files makeCertificates wrote (`file` maps a file name to its path).
 */
export function verifyClientsArgs(file: (name: string) => string, server = 'server'): string[] {
  return [
    '--tls-cert',
    file(`${server}.crt`),
    '--tls-key',
    file(`${server}.key`),
    '--tls-ca',
    file('ca.crt'),
    '--tls-verify-clients',
  ];
}
