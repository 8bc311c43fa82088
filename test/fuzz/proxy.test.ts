/**
 * Fuzzing through the proxy: the node fuzz test's streams (random and mutated commands, random
 * write splits, binary garbage, long lines and bodies, abrupt closes) against a proxy process in
 * front of three node processes. Neither may crash or grow without bound; every connection stays in
 * sync or is closed by its own `quit`; fresh clients are served throughout. The proxy defuses
 * nothing beyond what the node test does (x-* commands are UNKNOWN_COMMAND there anyway).
 *
 *   STALKD_FUZZ_SEED, STALKD_FUZZ_CONNECTIONS override the defaults; bench/fuzz-long.ts runs long.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { runFuzz } from '../support/fuzz-run';
import { probe, type StalkdProcess, startNodeProcess, startProxyProcess } from '../support/processes';

const MiB = 1024 * 1024;

test('fuzz: random and mutated input through the proxy never crashes it or a node, connections stay in sync, memory stays bounded', async () => {
  const nodes: StalkdProcess[] = await Promise.all([0, 1, 2].map(() => startNodeProcess(['-z', '1000'])));
  let proxy: StalkdProcess | undefined;
  try {
    proxy = await startProxyProcess(
      nodes.map((n) => n.port),
      ['-z', '1000'],
    );
    await probe(proxy.port, 'warm-up');
    const all = [proxy, ...nodes];
    const rssStart = all.map((p) => p.rss());
    const seed = Number(process.env.STALKD_FUZZ_SEED ?? 20261201);
    const connections = Number(process.env.STALKD_FUZZ_CONNECTIONS ?? 160);
    const result = await runFuzz({
      port: proxy.port,
      seed,
      connections,
      concurrency: 4,
      commandsPerConnection: 200,
      probeEvery: 10,
    });
    const grew = all.map((p, i) => p.rss() - (rssStart[i] as number));
    console.log(`# proxy fuzz: ${JSON.stringify(result.verdicts)}, RSS growth proxy+nodes ${grew.join(' ')}`);
    for (const p of all) assert.equal(p.child.exitCode, null, 'still running');
    assert.ok(
      (result.verdicts['in-sync'] ?? 0) > connections / 2,
      `most connections checked in sync: ${JSON.stringify(result.verdicts)}`,
    );
    for (const g of grew) assert.ok(g < 128 * MiB, `RSS grew by ${g} bytes`);
  } finally {
    await proxy?.kill();
    await Promise.all(nodes.map((n) => n.kill()));
  }
});
