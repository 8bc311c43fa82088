/**
 * A primary and a standby in one process, wired by replication's own modules over a real socket on
 * port 0 (no node server, no member logic): for stream tests that look at files and engines
 * directly. The primary is an Engine journaling into a Binlog with a ReplicationSource; the
 * standby a FollowerLog, an Engine and a Receiver.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import net from 'node:net';
import * as path from 'node:path';
import { type Binlog, type FileOps, openBinlog, restoreInto } from '../../src/binlog';
import type { FollowerLog } from '../../src/binlog/follower-log';
import { LogDirectory } from '../../src/binlog/log-directory';
import { systemClock } from '../../src/engine/clock';
import { Engine } from '../../src/engine/engine';
import { applyLogRecord } from '../../src/replication/apply';
import { handshake } from '../../src/replication/handshake';
import { primaryLog } from '../../src/replication/primary-log';
import { Receiver } from '../../src/replication/receiver';
import { type ReplicateRequest, ReplicationSource } from '../../src/replication/source';
import { pollUntil } from './prometheus';

export interface TestPrimary {
  dir: string;
  binlog: Binlog;
  engine: Engine;
  source: ReplicationSource;
  port: number;
  lines: string[];
  close(): Promise<void>;
}

/** Reads the x-replicate line, hands the socket to the source. */
function acceptReplicas(source: ReplicationSource): net.Server {
  return net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      socket.off('data', onData);
      const [, shard, member, knownTerm, lastTerm, lastLsn, index, offset, advertise] = buf
        .toString('latin1', 0, eol)
        .split(' ');
      const req: ReplicateRequest = {
        shard: shard as string,
        member: member as string,
        knownTerm: Number(knownTerm),
        lastTerm: Number(lastTerm),
        lastLsn: Number(lastLsn),
        index: Number(index),
        offset: Number(offset),
        advertise: advertise as string,
      };
      source.accept(socket, buf.subarray(eol + 2), req);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
}

export async function startTestPrimary(
  dir: string,
  options: { fsyncEveryMs?: number | null; segmentBytes?: number; syncStandbys?: number; term?: number } = {},
): Promise<TestPrimary> {
  const lines: string[] = [];
  const log = (line: string): void => {
    lines.push(line);
  };
  const opened = await openBinlog(dir, {
    fsyncEveryMs: options.fsyncEveryMs ?? 0,
    ...(options.segmentBytes !== undefined ? { segmentBytes: options.segmentBytes } : {}),
    log,
  });
  const engine = new Engine({ clock: systemClock, journal: opened.binlog });
  restoreInto(engine, opened);
  opened.binlog.attachJobSource((id) => engine.jobSource(id));
  const source = new ReplicationSource(primaryLog(opened.binlog), {
    syncStandbys: options.syncStandbys ?? 1,
    standbyTimeoutMs: null,
    shard: '0123456789abcdef',
    term: opened.binlog.term,
    log,
  });
  const server = acceptReplicas(source);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    dir,
    binlog: opened.binlog,
    engine,
    source,
    port: (server.address() as net.AddressInfo).port,
    lines,
    async close() {
      source.close('test over');
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await opened.binlog.close();
    },
  };
}

export interface TestStandby {
  dir: string;
  engine: Engine;
  log: FollowerLog;
  receiver: Receiver | undefined;
  kind: string;
  warnings: string[];
  closed: Promise<string>;
  close(): Promise<void>;
}

/** Opens dir as a follower, replays it into a fresh engine and follows the primary at port. */
export async function startTestStandby(
  dir: string,
  port: number,
  options: { fsyncEveryMs?: number | null; member?: string; ops?: FileOps } = {},
): Promise<TestStandby> {
  const directory = await LogDirectory.open(
    dir,
    { fsyncEveryMs: options.fsyncEveryMs ?? 0, log: () => {} },
    options.ops,
  );
  let opened = directory.openFollower();
  const engine = new Engine({ clock: systemClock });
  restoreInto(engine, opened);
  const at = opened.log.position();
  const result = await handshake(
    '127.0.0.1',
    port,
    {
      shard: '-',
      member: options.member ?? 'aaaaaaaaaaaaaaaa',
      knownTerm: at.lastTerm,
      lastTerm: at.lastTerm,
      lastLsn: at.lastLsn,
      index: at.index,
      offset: at.offset,
      advertise: '-',
    },
    undefined,
    5000,
  );
  const warnings = [...opened.warnings];
  let receiver: Receiver | undefined;
  let resolveClosed!: (reason: string) => void;
  const closed = new Promise<string>((resolve) => {
    resolveClosed = resolve;
  });
  if (result.kind === 'full-copy') {
    await opened.log.close();
    engine.removeAllJobs();
    directory.wipe();
    opened = directory.openFollower();
  }
  if (result.kind === 'truncate') resolveClosed(`TRUNCATE ${result.term} ${result.lsn}`);
  else if (result.kind === 'refused') resolveClosed(result.reason);
  else {
    receiver = new Receiver(result.socket, opened.log, {
      onRecord: (rec, buf) => applyLogRecord(engine, rec, buf),
      onHeartbeat: () => {},
      onWarning: (line) => warnings.push(line),
      onClose: (reason) => resolveClosed(reason),
    });
    receiver.start(result.leftover);
    result.socket.resume();
  }
  const log = opened.log;
  return {
    dir,
    engine,
    log,
    receiver,
    kind: result.kind,
    warnings,
    closed,
    async close() {
      receiver?.close('test over');
      await log.close();
      await directory.release();
    },
  };
}

/** Resolves once the primary's source has the standby's acknowledgement of every record. */
export async function untilReplicated(primary: TestPrimary, timeoutMs = 20_000): Promise<void> {
  await pollUntil(
    'standby acknowledged everything',
    async () => (primary.source.replicatedLsn() >= primary.binlog.lastLsn() ? true : undefined),
    timeoutMs,
    10,
  );
}

/** Segment files both dirs hold: the standby's must be the primary's, byte for byte (up to its length). */
export function compareSegments(primaryDir: string, standbyDir: string): number {
  const names = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.stalkd'));
  const theirs = new Set(names(standbyDir));
  let compared = 0;
  for (const name of names(primaryDir)) {
    if (!theirs.has(name)) continue;
    const a = fs.readFileSync(path.join(primaryDir, name));
    const b = fs.readFileSync(path.join(standbyDir, name));
    const used = (buf: Buffer): number => {
      let end = buf.length;
      while (end > 0 && buf[end - 1] === 0) end--;
      return end;
    };
    const n = Math.max(used(a), used(b));
    if (!a.subarray(0, n).equals(b.subarray(0, n))) {
      let at = 0;
      while (a[at] === b[at]) at++;
      throw new Error(`${name} differs at offset ${at} (lengths ${a.length}, ${b.length})`);
    }
    compared++;
  }
  return compared;
}
