/**
 * `stalkd migrate` SIGKILLed at random moments and run again (issue 15, docs/migration.md, "Moving
 * jobs"): under producer/consumer load through two proxies (many delayed jobs, so there is much to
 * move), a 4th node joins and node-0 leaves; each time migrate is killed several times in the middle
 * of its moves, then run to the end. Ledger: every acknowledged put delivered exactly once (0 lost,
 * 0 duplicated). A job a kill left moving is still found by `peek <old id>` through the proxy, and
 * answers NOT_FOUND once the re-run has finished its move.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { planMoves } from '../../src/cli/migrate';
import { Client } from '../../src/client/client';
import { listMoving } from '../../src/client/job-move';
import { encodeJobId } from '../../src/proxy/job-id';
import type { ProxyServer } from '../../src/proxy/server';
import { ElasticBed, migrate, migrateOnce, type NodeEntry, topologyFile } from '../support/elastic-load';
import { prng } from '../support/engine-fixture';
import { RawClient } from '../support/proxy-harness';

const KILLS = 8;
const SEED = Number(process.env.STALKD_TEST_SEED ?? Date.now() % 100_000);

/** Jobs each node holds as moving, by node index. */
async function movingOn(nodes: NodeEntry[]): Promise<Map<number, number[]>> {
  const found = new Map<number, number[]>();
  for (const n of nodes) {
    const c = await Client.connect({ host: n.host, port: n.port, timeoutMs: 5000 });
    try {
      const ids = await listMoving(c);
      if (ids.length > 0) found.set(n.index, ids);
    } finally {
      await c.close();
    }
  }
  return found;
}

/**
 * Runs migrate, killing it with SIGKILL after a random number of moves and then a random 0–10 ms
 * or, every other time, at the first moment a node holds jobs moving (migrate moves in batches
 * with rests between them, which a kill at a random moment often falls into), KILLS times (fewer
 * if a run finishes first), then once to the end. Returns the proxy ids of jobs a
 * kill left moving, each checked to be still found through the proxy at that moment.
 */
async function migrateWithKills(
  bed: ElasticBed,
  file: string,
  random: () => number,
): Promise<{ leftMoving: number[]; kills: number; out: string }> {
  const leftMoving: number[] = [];
  const peek = await RawClient.open((bed.proxies[0] as ProxyServer).port);
  let kills = 0;
  try {
    for (let k = 0; k < KILLS; k++) {
      const afterMoves = 1 + Math.floor(random() * 12);
      const extraMs = Math.floor(random() * 10);
      const midBatch = k % 2 === 1;
      const killAt = (child: ChildProcess, out: () => string): void => {
        // The nodes run in this process: look at them on every turn of the loop until one holds a
        // job moving (x-move-out done, x-move-done not yet), then kill.
        const whenMoving = (): void => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          if (bed.servers.some((s) => s.engine.moves.movingCount > 0)) child.kill('SIGKILL');
          else setImmediate(whenMoving);
        };
        const check = (): void => {
          if ((out().match(/"event":"(moved|resumed)"/g) ?? []).length < afterMoves) return;
          child.stdout?.off('data', check);
          if (midBatch) whenMoving();
          else setTimeout(() => child.kill('SIGKILL'), extraMs);
        };
        child.stdout?.on('data', check);
      };
      const run = await migrateOnce(file, killAt);
      if (run.signal !== 'SIGKILL') {
        assert.equal(run.status, 0, run.out);
        break;
      }
      kills++;
      for (const [index, ids] of await movingOn(bed.nodes)) {
        for (const id of ids) {
          const proxyId = encodeJobId(index, id) as number;
          assert.match(
            (await peek.cmd(`peek ${proxyId}`)).line,
            /^FOUND /,
            'a moving job is still found by its old id',
          );
          leftMoving.push(proxyId);
        }
      }
    }
    const last = await migrate(file);
    assert.equal(last.status, 0, last.out);
    for (const id of leftMoving)
      assert.equal((await peek.cmd(`peek ${id}`)).line, 'NOT_FOUND', 'gone from the old node once moved');
    assert.deepEqual(await movingOn(bed.nodes), new Map(), 'no job left moving');
    return { leftMoving, kills, out: last.out };
  } finally {
    peek.close();
  }
}

test('elastic cluster: migrate SIGKILLed at random moments and run again — 0 lost, 0 duplicated', async () => {
  const random = prng(SEED);
  const bed = await ElasticBed.start();
  const { nodes, proxies, dir } = bed;
  // Most jobs delayed 2–5 s: a standing backlog for migrate to move while it is being killed.
  bed.startLoad((n) => ({ delaySecs: n % 3 === 0 ? 0 : 2 + (n % 4), buried: n % 11 === 3 }));
  try {
    await bed.untilPuts(1500);
    const four = topologyFile(dir, { nodes });
    await Promise.all(proxies.map((p) => p.reload(four.topology)));
    const joined = await migrateWithKills(bed, four.file, random);
    const leaving = topologyFile(dir, { nodes: [{ ...nodes[0], leaving: true }, ...nodes.slice(1)] });
    await Promise.all(proxies.map((p) => p.reload(leaving.topology)));
    const left = await migrateWithKills(bed, leaving.file, random);
    assert.match(left.out, /"event":"leaving","node":"node-0","jobs":0,"empty":true/);
    await bed.stop();
    assert.deepEqual(await planMoves(leaving.topology), [], 'nothing left on a non-owner');
    await bed.drainAndCheck();
    const kills = joined.kills + left.kills;
    const cut = joined.leftMoving.length + left.leftMoving.length;
    console.log(
      `elastic kill (seed ${SEED}): ${bed.ledger.size} jobs, ${kills} kills, ${cut} moves cut and finished`,
    );
    assert.ok(kills >= 2, `migrate was killed (${kills} times)`);
    assert.ok(cut > 0, 'some kill fell between a move-out and its end (the case under test)');
  } finally {
    await bed.close();
  }
});
