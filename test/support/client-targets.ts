/**
 * Servers the client and third-party-client tests run against. A target is anything that can
 * start a fresh server from beanstalkd flags (only `-z BYTES` is used) and hand back its address;
 * `TargetKind` from transcript-targets fits as is. stalkd's node (on the real clock) always runs;
 * the reference runs where beanstalkd is installed.
 *
 * CLIENT_TARGETS=reference (comma list of name prefixes) narrows the run.
 */
import { nodeRealClockKind } from './node-target';
import { referenceVersion } from './reference';
import { referenceKind } from './transcript-targets';

export interface ClientServer {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Enters drain mode (reference: SIGUSR1) once `stats` reports it; absent where unsupported. */
  drain?(): Promise<void>;
}

export interface ClientTarget {
  readonly name: string;
  /** Stats formatting the target follows: 1.13 quotes `name`, `tube`, `hostname`, `os`, `platform`. */
  readonly version: '1.12' | '1.13';
  /** False for a proxy in front of several servers: absolute ids and global counters differ. */
  readonly singleServer: boolean;
  start(args: readonly string[]): Promise<ClientServer>;
}

export const CLIENT_TARGETS: ClientTarget[] = [nodeRealClockKind];

const refVersion = referenceVersion();
if (refVersion) CLIENT_TARGETS.push(referenceKind(refVersion));
else console.log('client tests: the reference run needs beanstalkd (apt-get install beanstalkd); not run');

/** The targets selected by CLIENT_TARGETS (all when unset). */
export function selectedClientTargets(): ClientTarget[] {
  const only = process.env.CLIENT_TARGETS?.split(',');
  return only
    ? CLIENT_TARGETS.filter((t) => only.some((prefix) => t.name.startsWith(prefix)))
    : CLIENT_TARGETS;
}

/** Starts a fresh server, runs `fn`, always stops the server. */
export async function withServer<T>(
  target: ClientTarget,
  args: readonly string[],
  fn: (server: ClientServer) => Promise<T>,
): Promise<T> {
  const server = await target.start(args);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}
