/**
 * The crash harness's shard target (docs/replication.md): a primary and one synchronous standby,
 * `stalkd node --shard-peers`, as one logical node to the harness. Each kill strikes the primary or
 * the standby (seeded); a killed primary is replaced by promoting the standby (`x-promote`, the old
 * primary then follows it and drops its unconfirmed tail) or restarted (it resumes at a new term),
 * at random. Clients always talk to the current primary.
 */
import { rmSync } from 'node:fs';
import { type IdCodec, singleNodeIds } from './crash-ledger';
import { type CrashTarget, untilNoneReserved } from './crash-targets';
import { CRASH_TUBES } from './crash-traffic';
import { seededRand } from './fuzz';
import type { Exit } from './node-process';
import { ask, makeShard, role, type Shard, untilRole } from './shard';

export function shardTarget(
  mode: readonly string[],
  seed: number,
): CrashTarget & { readonly events: string[] } {
  const choose = seededRand(seed);
  let shard: Shard | undefined;
  let primary = 0;
  let victim = 0;
  /** terminate() chose this round's victim; kill() strikes the same one. */
  let chosen = false;
  const pick = (): void => {
    if (!chosen) victim = choose(2) === 0 ? primary : 1 - primary;
    chosen = false;
  };
  const events: string[] = [];
  const current = (): Shard => {
    if (!shard) throw new Error('shard not started');
    return shard;
  };
  const portOf = (i: number): number => current().members[i]?.port as number;
  const codec: IdCodec = singleNodeIds;
  const settled = async (): Promise<void> => {
    await untilRole(portOf(primary), { role: 'primary', 'in-sync-standbys': '1' }, 30_000);
  };
  return {
    label: `stalkd node ${mode.join(' ')} --shard-peers (primary + 1 sync standby)`,
    nodes: 1,
    codec,
    survivesKill: true,
    events,
    port: () => portOf(primary),
    nodeOfTube: () => 0,
    probeTube: () => CRASH_TUBES[0],
    async start() {
      shard = await makeShard(2, [...mode, '-s', '65536']);
      await Promise.all([0, 1].map((i) => current().start(i)));
      await settled();
    },
    kill() {
      pick();
      const p = current().members[victim]?.process;
      if (!p) throw new Error(`member ${victim} not running`);
      return p.kill() as Promise<Exit>;
    },
    terminate() {
      pick();
      chosen = true;
      current().members[victim]?.process?.child.kill('SIGTERM');
    },
    async restart() {
      const s = current();
      if (victim !== primary) {
        events.push('standby killed, restarted');
        await s.start(victim);
      } else if (choose(2) === 0) {
        const standby = 1 - primary;
        const term = Number((await role(portOf(standby))).get('term')) + 1;
        const answer = await ask(portOf(standby), `x-promote ${term}`);
        if (!answer.startsWith('PROMOTED ')) throw new Error(`x-promote ${term}: ${answer}`);
        events.push(`primary killed, standby promoted to term ${term}`);
        primary = standby;
        await s.start(victim);
      } else {
        events.push('primary killed, restarted');
        await s.start(victim);
      }
      await settled();
    },
    settle: () => untilNoneReserved(portOf(primary)),
    async stop() {
      const problems: string[] = [];
      for (const [i, m] of current().members.entries()) {
        const exit = await m.process?.stop();
        if (exit && (exit.code !== 0 || exit.signal !== null))
          problems.push(`member ${i} exited ${exit.code ?? exit.signal}: ${exit.stderr}`);
      }
      return problems;
    },
    async dispose() {
      await shard?.stopAll();
      for (const m of shard?.members ?? []) rmSync(m.dir, { recursive: true, force: true });
    },
  };
}
