/**
 * `stalkd node`'s replication flags (docs/replication.md, "Flags") and the member they make: with
 * `--shard-peers` the node's log is a replication member's, opened before the server listens and
 * started (discovery, then primary or standby) once it does.
 */
import { mkdirSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from '../log/logger';
import { isValidToken } from '../replication/handshake';
import { Member } from '../replication/member';
import { formatAddress, parseAddress } from '../replication/peer';
import type { NodeServer, NodeServerOptions } from '../server/node-server';
import { parseInteger } from './options';

export interface ReplicationCommandOptions {
  shardPeers?: string[];
  standby?: boolean;
  syncStandbys: number;
  standbyTimeoutMs?: number;
  shardToken?: string;
  advertise?: string;
}

function parseAddressList(value: string): string[] {
  try {
    return value
      .split(',')
      .filter((s) => s.trim().length > 0)
      .map((s) => formatAddress(parseAddress(s)));
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseOneAddress(value: string): string {
  const [address] = parseAddressList(value);
  if (address === undefined || value.includes(',')) throw new InvalidArgumentError('expected one HOST:PORT');
  return address;
}

function parseToken(value: string): string {
  if (!isValidToken(value)) throw new InvalidArgumentError('1 to 128 printable characters, no spaces');
  return value;
}

export function addReplicationOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--shard-peers <list>',
        "the other members of this node's shard, HOST:PORT[,HOST:PORT…] (turns replication on; needs -b)",
      ).argParser(parseAddressList),
    )
    .addOption(new Option('--standby', 'on a first start (empty binlog), follow a peer instead of leading'))
    .addOption(
      new Option('--sync-standbys <k>', 'a confirming reply waits for K standbys; 0 = asynchronous')
        .argParser(parseInteger(0, 64))
        .default(1),
    )
    .addOption(
      new Option(
        '--standby-timeout-ms <ms>',
        'after MS ms with fewer than K standbys in sync, confirm alone (default: wait)',
      ).argParser(parseInteger(1, 86_400_000)),
    )
    .addOption(
      new Option('--shard-token <token>', 'members and operators must x-auth TOKEN first').argParser(
        parseToken,
      ),
    )
    .addOption(
      new Option(
        '--advertise <host:port>',
        'how peers reach this member (dropped from --shard-peers)',
      ).argParser(parseOneAddress),
    );
}

/**
 * With --shard-peers: opens the member and has the server use its log and answer for it. Returns
 * the function that starts it once the server listens, or undefined without replication.
 */
export async function attachMember(
  serverOptions: NodeServerOptions,
  opts: ReplicationCommandOptions & {
    binlogDir?: string;
    fsync: boolean;
    fsyncMs: number;
    binlogSize: number;
  },
  log: Logger,
  restored: { jobs: number; replayMs: number },
): Promise<((server: NodeServer) => void) | undefined> {
  if (opts.shardPeers === undefined) return undefined;
  const dir = opts.binlogDir;
  if (dir === undefined) throw new Error('--shard-peers needs -b DIR (every member keeps a binlog)');
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const peers = opts.shardPeers.filter((p) => p !== opts.advertise);
  const member = await Member.open({
    dir,
    binlog: {
      fsyncEveryMs: opts.fsync ? opts.fsyncMs : null,
      segmentBytes: opts.binlogSize,
      log: (line) => log.warnLimited('binlog', line.replace(/^binlog: /, ''), { dir }),
    },
    peers,
    standby: opts.standby === true,
    syncStandbys: opts.syncStandbys,
    standbyTimeoutMs: opts.standbyTimeoutMs ?? null,
    token: opts.shardToken,
    log: { info: (line) => log.info(line), warn: (line) => log.warn(line) },
  });
  serverOptions.log = member.durableLog;
  serverOptions.shard = member;
  serverOptions.beforeListen = (engine) => {
    restored.jobs = member.restore(engine).jobs;
    restored.replayMs = Math.round(performance.now() - t0);
  };
  return (server) =>
    member.start({
      engine: server.engine,
      dropClients: () => server.dropClients(),
      armTimer: () => server.armTimer(),
      advertise: opts.advertise ?? `${server.host}:${server.port}`,
    });
}
