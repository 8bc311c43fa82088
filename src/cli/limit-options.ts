/**
 * Flags shared by `stalkd node` and `stalkd proxy`, defined once so they behave the same on both:
 * where to listen (-l, -p), the largest job (-z, clamped to beanstalkd's ceiling with its warning),
 * per-connection bounds (docs/limits.md) and, for the proxy's client listener, TLS.
 */
import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import { type Command, Option } from 'commander';
import { takeInheritedSocket } from '../net/inherited-socket';
import {
  DEFAULT_MAX_INPUT_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MIN_OUTPUT_BYTES,
} from '../net/limits';
import type { ListenTarget } from '../net/listen';
import { DEFAULT_DIALECT, DIALECTS, type Dialect } from '../protocol/dialect';
import { DEFAULT_MAX_JOB_BYTES, MAX_JOB_BYTES_LIMIT } from '../protocol/numbers';
import { parseInteger, parsePort } from './options';

export interface ListenCommandOptions {
  listen: string;
  port: number;
  maxJobSize: number;
  /** -u: become this user after binding (user.ts). */
  user?: string;
}

/** -l ADDR, -p PORT, -z BYTES and -u USER, as beanstalkd spells them. */
export function addListenOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '-l, --listen <addr>',
        'listen on this address, or unix:PATH (a Unix domain socket; -p unused)',
      ).default('0.0.0.0'),
    )
    .addOption(
      new Option('-p, --port <port>', 'listen on this port').argParser(parsePort).default(DEFAULT_PORT),
    )
    .addOption(
      new Option('-z, --max-job-size <bytes>', `maximum job body size (at most ${MAX_JOB_BYTES_LIMIT})`)
        .argParser(parseInteger(0, Number.MAX_SAFE_INTEGER))
        .default(DEFAULT_MAX_JOB_BYTES),
    )
    .addOption(new Option('-u, --user <user>', 'become USER (and its groups) once listening; needs root'));
}

/**
 * Where to listen: the socket systemd passed (socket activation: -l and -p are then not used, as
 * beanstalkd), else -l/-p. `activation` is for the start line: 'systemd' (with LISTEN_FDNAMES'
 * name) or undefined.
 */
export function listenTargetFrom(
  opts: ListenCommandOptions,
  warn: (line: string) => void,
): { target: ListenTarget; activation?: string } {
  const inherited = takeInheritedSocket(warn);
  if (!inherited) return { target: { host: opts.listen, port: opts.port } };
  return {
    target: { fd: inherited.fd, ...inherited.address },
    activation: inherited.name ? `systemd (${inherited.name})` : 'systemd',
  };
}

/** -z as used: above beanstalkd's ceiling it is clamped, with beanstalkd's warning on stderr. */
export function maxJobBytesFrom(opts: ListenCommandOptions, label: string): number {
  if (opts.maxJobSize <= MAX_JOB_BYTES_LIMIT) return opts.maxJobSize;
  process.stderr.write(
    `${label}: maximum job size was set to ${opts.maxJobSize}; using ${MAX_JOB_BYTES_LIMIT}\n`,
  );
  return MAX_JOB_BYTES_LIMIT;
}

export interface CompatCommandOptions {
  compat: Dialect;
}

/** --compat 1.12|1.13: the beanstalkd release whose protocol details are reproduced (dialect.ts). */
export function addCompatOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--compat <version>',
      'behave as this beanstalkd release: 1.12 = unquoted stats strings, lenient reserve-with-timeout',
    )
      .choices(DIALECTS)
      .default(DEFAULT_DIALECT),
  );
}

export interface LimitCommandOptions {
  maxConnections: number;
  maxOutputBytes: number;
  maxInputBytes: number;
  requestTimeoutMs: number;
}

export function addLimitOptions(
  command: Command,
  defaults: { maxConnections: number; inputMeaning: string },
): Command {
  return command
    .addOption(
      new Option('--max-connections <n>', 'client connections beyond this many are closed at once')
        .argParser(parseInteger(1, 10_000_000))
        .default(defaults.maxConnections),
    )
    .addOption(
      new Option('--max-output-bytes <bytes>', 'unread replies per client before its requests wait')
        .argParser(parseInteger(MIN_OUTPUT_BYTES, 1 << 30))
        .default(DEFAULT_MAX_OUTPUT_BYTES),
    )
    .addOption(
      new Option('--max-input-bytes <bytes>', `${defaults.inputMeaning} per client before reading it pauses`)
        .argParser(parseInteger(1024, 1 << 30))
        .default(DEFAULT_MAX_INPUT_BYTES),
    )
    .addOption(
      new Option(
        '--request-timeout-ms <ms>',
        'close a client whose started request, or unread output over the bound, stalls this long (0 = never)',
      )
        .argParser(parseInteger(0, 86_400_000))
        .default(DEFAULT_REQUEST_TIMEOUT_MS),
    );
}

export interface TlsCommandOptions {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsVerifyClients?: boolean;
}

export function addTlsOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls-cert <file>', 'serve clients over TLS with this certificate chain (PEM)'))
    .addOption(new Option('--tls-key <file>', 'private key (PEM) for --tls-cert'))
    .addOption(new Option('--tls-ca <file>', 'CA certificates (PEM) that client certificates must chain to'))
    .addOption(
      new Option('--tls-verify-clients', 'require a client certificate signed by --tls-ca (mutual TLS)'),
    );
}

/** Error class for the CLI edge: a TLS flag combination that cannot work. */
export class TlsConfigError extends Error {
  readonly code = 'TLS_CONFIG';
}

/** node:tls server options from the flags; undefined when TLS is off. Reads the files now. */
export function tlsFromOptions(opts: TlsCommandOptions): TlsOptions | undefined {
  if (!opts.tlsCert && !opts.tlsKey) {
    if (opts.tlsCa || opts.tlsVerifyClients)
      throw new TlsConfigError('--tls-ca and --tls-verify-clients need --tls-cert and --tls-key');
    return undefined;
  }
  if (!opts.tlsCert || !opts.tlsKey) throw new TlsConfigError('give both --tls-cert and --tls-key');
  if (opts.tlsVerifyClients && !opts.tlsCa) throw new TlsConfigError('--tls-verify-clients needs --tls-ca');
  const tls: TlsOptions = { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) };
  if (opts.tlsCa) tls.ca = readFileSync(opts.tlsCa);
  if (opts.tlsVerifyClients) {
    tls.requestCert = true;
    tls.rejectUnauthorized = true;
  }
  return tls;
}
