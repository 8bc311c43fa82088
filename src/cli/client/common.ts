/**
 * What every client subcommand shares: where to connect (`--host`/`--port`, defaults from
 * STALKD_CLIENT_HOST / STALKD_CLIENT_PORT — not STALKD_PORT_NUMBER, which is `stalkd node`'s listen
 * port), `--json` output, and error reporting: one line on stderr, `stalkd <command>: <what>`,
 * and exit status 1 (2 for a reserve that timed out).
 */

import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { type Command, Option } from 'commander';
import { Client, ConnectionError, type ConnectOptions, ProtocolError } from '../../client';
import { endpointText } from '../../net/endpoint';
import { DEFAULT_PORT } from '../../net/limits';
import { parseInteger, parsePort } from '../options';

export const CLIENT_HOST_ENV = 'STALKD_CLIENT_HOST';
export const CLIENT_PORT_ENV = 'STALKD_CLIENT_PORT';

export interface ConnectionOptions {
  host: string;
  port: number;
  json: boolean;
  connectTimeoutMs: number;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
}

/** A failure to report as is: its message is the whole line. */
export class CliError extends Error {
  readonly code = 'E_CLI';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Adds --host, --port, --json, --connect-timeout-ms, TLS; usage errors stay one line (no help dump). */
export function clientCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .showHelpAfterError(false)
    .addOption(
      new Option(
        '-H, --host <host>',
        'server (node, proxy or beanstalkd) address, or unix:PATH for a Unix socket',
      )
        .default('127.0.0.1')
        .env(CLIENT_HOST_ENV),
    )
    .addOption(
      new Option('-p, --port <port>', 'server port')
        .argParser(parsePort)
        .default(DEFAULT_PORT)
        .env(CLIENT_PORT_ENV),
    )
    .addOption(new Option('--json', 'machine-readable output (one JSON document)').default(false))
    .addOption(
      new Option('--connect-timeout-ms <ms>', 'give up connecting after this long')
        .argParser(parseInteger(1, 600_000))
        .default(5000),
    )
    .addOption(new Option('--tls', 'connect over TLS (implied by the other --tls-* options)'))
    .addOption(new Option('--tls-ca <file>', 'trust these CA certificates (PEM) for the server'))
    .addOption(new Option('--tls-cert <file>', 'client certificate (PEM), for servers that require one'))
    .addOption(new Option('--tls-key <file>', 'private key (PEM) for --tls-cert'))
    .addOption(new Option('--tls-insecure', 'do not verify the server certificate'));
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Client.connect options for the flags; throws CliError for unreadable files. */
export function connectOptionsFor(opts: ConnectionOptions): ConnectOptions {
  const options: ConnectOptions = { host: opts.host, port: opts.port, timeoutMs: opts.connectTimeoutMs };
  if (!opts.tls && !opts.tlsCa && !opts.tlsCert && !opts.tlsKey && !opts.tlsInsecure) return options;
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey))
    throw new CliError('--tls-cert and --tls-key go together');
  const tls: TlsConnectionOptions = {};
  if (opts.tlsCa) tls.ca = readPem(opts.tlsCa, 'CA file');
  if (opts.tlsCert) tls.cert = readPem(opts.tlsCert, 'certificate');
  if (opts.tlsKey) tls.key = readPem(opts.tlsKey, 'key');
  if (opts.tlsInsecure) tls.rejectUnauthorized = false;
  options.tls = tls;
  return options;
}

function describeError(err: unknown, opts: ConnectionOptions): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof ConnectionError) {
    const where = endpointText(opts.host, opts.port);
    if (err.code === 'CLOSED') return `connection to ${where} closed by the server`;
    if (err.code === 'BAD_REPLY') return `${where} is not speaking the beanstalkd protocol (${err.message})`;
    return `cannot connect to ${where}: ${err.code}`;
  }
  if (err instanceof ProtocolError) return `server refused ${err.command}: ${err.line}`;
  if (err instanceof RangeError || err instanceof TypeError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Reports a failure as one line and sets the exit status; the process then ends by itself. */
export function fail(command: string, err: unknown, opts: ConnectionOptions): void {
  const line = describeError(err, opts).replace(/[\r\n]+/g, ' ');
  process.stderr.write(`stalkd ${command}: ${line}\n`);
  process.exitCode = err instanceof CliError ? err.exitCode : 1;
}

/**
 * Connects, runs `fn`, and closes. Errors become one line on stderr and a non-zero exit status,
 * never a stack trace.
 */
export async function withClient(
  command: string,
  opts: ConnectionOptions,
  fn: (client: Client) => Promise<void>,
): Promise<void> {
  let client: Client | undefined;
  try {
    client = await Client.connect(connectOptionsFor(opts));
    await fn(client);
  } catch (err) {
    fail(command, err, opts);
  } finally {
    await client?.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Parses a job id argument (beanstalkd ids are below 2^53). */
export function parseJobId(text: string): number {
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new CliError(`"${text}" is not a job id`);
  return Number(text);
}

/** Commander option parser for u32 values (pri, delay, ttr, seconds, bounds). */
export const parseU32 = parseInteger(0, 0xffffffff);

/** A repeatable option collecting values (`-t a -t b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
