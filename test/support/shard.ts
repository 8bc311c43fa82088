/**
 * A shard of `stalkd node` processes for replication tests: members on ports picked beforehand
 * (each member's --shard-peers names the others), fresh directories, and helpers that ask a member
 * its `x-role` and wait — by polling with a deadline — until roles settle.
 */
import { tempDir } from './binlog-fixtures';
import { freePort } from './cli-process';
import { MiniClient } from './mini-client';
import { type NodeProcess, startNode } from './node-process';
import { pollUntil } from './prometheus';

export interface ShardMember {
  index: number;
  port: number;
  dir: string;
  /** Extra flags it was started with (kept for restarts). */
  extra: string[];
  process: NodeProcess | undefined;
}

export interface Shard {
  members: ShardMember[];
  /** Starts (or restarts) member i on its port and directory. */
  start(i: number, extra?: readonly string[]): Promise<NodeProcess>;
  kill(i: number): Promise<void>;
  stopAll(): Promise<void>;
}

/** `n` members; member 0 leads on a first start, the others start with --standby. */
export async function makeShard(n: number, flags: readonly string[] = []): Promise<Shard> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const members: ShardMember[] = ports.map((port, index) => ({
    index,
    port,
    dir: tempDir(),
    extra: [
      '-p',
      String(port),
      '--shard-peers',
      ports
        .filter((p) => p !== port)
        .map((p) => `127.0.0.1:${p}`)
        .join(','),
      ...(index === 0 ? [] : ['--standby']),
      ...flags,
    ],
    process: undefined,
  }));
  const shard: Shard = {
    members,
    async start(i, extra = []) {
      const m = members[i] as ShardMember;
      m.process = await startNode(m.dir, [...m.extra, ...extra]);
      return m.process;
    },
    async kill(i) {
      const m = members[i] as ShardMember;
      await m.process?.kill();
      m.process = undefined;
    },
    async stopAll() {
      await Promise.all(members.map((m) => m.process?.kill()));
      for (const m of members) m.process = undefined;
    },
  };
  return shard;
}

/** One request on a fresh connection (closed after the reply). */
export async function ask(port: number, line: string, body?: string): Promise<string> {
  const c = await MiniClient.connect(port);
  try {
    const reply = await c.send(line, body);
    return reply.body ? `${reply.line}\n${reply.body.toString()}` : reply.line;
  } finally {
    c.close();
  }
}

export type RoleFields = Map<string, string>;

/** The member's x-role as a map of its keys. */
export async function role(port: number): Promise<RoleFields> {
  const text = await ask(port, 'x-role');
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z-]+): (.*)$/.exec(line);
    if (m) map.set(m[1] as string, (m[2] as string).replace(/^"(.*)"$/, '$1'));
  }
  return map;
}

/** Waits until member `port` has `want` (e.g. role=primary, in-sync=true). */
export function untilRole(
  port: number,
  want: Readonly<Record<string, string>>,
  timeoutMs = 20_000,
): Promise<RoleFields> {
  return pollUntil(
    `x-role of :${port} with ${JSON.stringify(want)}`,
    async () => {
      const r = await role(port);
      for (const [k, v] of Object.entries(want)) if (r.get(k) !== v) return undefined;
      return r;
    },
    timeoutMs,
    50,
  );
}

/**
 * The invariant of terms (docs/replication.md, "Terms"): no two members report `primary` at the
 * same term. Asks every member that answers; returns the violations (empty when it holds).
 */
export async function primariesSharingATerm(ports: readonly number[]): Promise<string[]> {
  const byTerm = new Map<string, number[]>();
  for (const port of ports) {
    const r = await role(port).catch(() => undefined);
    if (r?.get('role') !== 'primary') continue;
    const term = r.get('term') as string;
    byTerm.set(term, [...(byTerm.get(term) ?? []), port]);
  }
  return [...byTerm]
    .filter(([, at]) => at.length > 1)
    .map(([term, at]) => `term ${term}: primaries ${at.map((p) => `:${p}`).join(', ')}`);
}
