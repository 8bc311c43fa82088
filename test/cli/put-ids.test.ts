/**
 * Job ids through the proxy are interleaved per node (docs/proxy.md, "Job ids"): the seed tutorial's
 * "put four jobs, then peek 4" reads differently there. Shown with `stalkd put` against the proxy
 * (ids unique, stable — each peeks back to its own body — and not 1..4), against a node and against
 * Debian's beanstalkd (1, 2, 3, 4); said in `stalkd put --help` and on the README's first screen.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { PUT_ID_NOTE } from '../../src/cli/client/put';
import { startNodeServer } from '../../src/server/node-server';
import { CLI_PATH } from '../support/cli-process';
import { startStalkdCluster, tubesPerNode } from '../support/proxy-harness';
import { BEANSTALKD_PATH, startReference } from '../support/reference';

const run = promisify(execFile);

/** Runs the CLI without blocking this process (the servers under test live in it). */
async function cli(args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', timeout: 20_000 });
  return stdout;
}

/** Puts one job into each tube with `stalkd put`; returns the printed ids, each peeked back. */
async function putEach(port: number, tubes: readonly string[]): Promise<number[]> {
  const ids: number[] = [];
  for (const [i, tube] of tubes.entries()) {
    const m = /^inserted (\d+)\n$/.exec(await cli(['put', `job ${i}`, '-t', tube, '-p', String(port)]));
    assert.ok(m, 'put prints the id');
    ids.push(Number(m[1]));
  }
  for (const [i, id] of ids.entries()) {
    const peeked = JSON.parse(await cli(['peek', String(id), '-p', String(port), '--json'])) as {
      body: string;
    };
    assert.equal(peeked.body, `job ${i}`, `id ${id} is the job put as job ${i}`);
  }
  return ids;
}

test('put ids: through the proxy unique and stable, not dense; on a node and on beanstalkd 1, 2, 3, 4', async () => {
  const cluster = await startStalkdCluster(3);
  try {
    const [a, b, c] = tubesPerNode(cluster.proxy, 3, 2);
    const tubes = [b?.[0], b?.[1], c?.[0], a?.[0]] as string[];
    const ids = await putEach(cluster.proxy.port, tubes);
    assert.equal(new Set(ids).size, 4);
    assert.notDeepEqual(ids, [1, 2, 3, 4]);
    assert.deepEqual(ids, [2, 66, 3, 1], '(local - 1) * 64 + index + 1');
  } finally {
    await cluster.stop();
  }
  const node = await startNodeServer({ host: '127.0.0.1', port: 0 });
  try {
    assert.deepEqual(await putEach(node.port, ['a', 'b', 'a', 'c']), [1, 2, 3, 4]);
  } finally {
    await node.close();
  }
  assert.ok(BEANSTALKD_PATH, 'needs beanstalkd (apt-get install beanstalkd), as .ci/run installs it');
  const reference = await startReference();
  try {
    assert.deepEqual(await putEach(reference.port, ['a', 'b', 'a', 'c']), [1, 2, 3, 4]);
  } finally {
    await reference.stop();
  }
});

test('put ids: said in `stalkd put --help` and on the README first screen', async () => {
  assert.ok((await cli(['put', '--help'])).includes(PUT_ID_NOTE));
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const firstScreen = readme.split('\n').slice(0, 24).join('\n');
  assert.match(firstScreen, /job ids are unique and stable, not dense/);
});
