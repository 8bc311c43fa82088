/**
 * `stalkd cluster --replicas 2`: standbys laid out next to the primaries and printed at start, the
 * members forming shards; kill -9 of a primary while putting through the proxy — the proxy fails
 * over by itself, puts go on, and the killed member is started again and rejoins as a standby.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { freePortRun } from '../support/cli-process';
import { MiniClient } from '../support/mini-client';
import { pollUntil } from '../support/prometheus';
import { role, untilRole } from '../support/shard';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('cluster: --replicas 2 starts two standbys per node, and a killed primary is failed over and rejoins', async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'stalkd-cluster-r-'));
  const base = await freePortRun(6);
  const child = spawn(
    process.execPath,
    [
      CLI,
      'cluster',
      '--nodes',
      '2',
      '--replicas',
      '2',
      '-p',
      String(base),
      '--metrics-port',
      '0',
      '--data',
      data,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ctrl-C stops everything.')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`cluster exited early (${code}): ${out}`)));
    });
    assert.match(out, /2 nodes with 4 standbys \+ proxy/);
    // Node i on base+1+i, its standby r on base+1+2r+i, each with its own binlog.
    for (const [port, dir, what] of [
      [base + 1, 'node-0', 'primary'],
      [base + 3, 'node-0-r1', 'standby'],
      [base + 5, 'node-0-r2', 'standby'],
      [base + 2, 'node-1', 'primary'],
      [base + 4, 'node-1-r1', 'standby'],
      [base + 6, 'node-1-r2', 'standby'],
    ] as const) {
      assert.match(out, new RegExp(`127\\.0\\.0\\.1:${port} +binlog ${path.join(data, dir)} +${what}`));
    }
    await untilRole(base + 1, { role: 'primary', 'in-sync-standbys': '2' });
    const pid = Number(new RegExp(`pid=(\\d+) [^\\n]*listen=127\\.0\\.0\\.1:${base + 1} `).exec(out)?.[1]);
    assert.ok(pid > 0, 'the primary of node-0 logged its pid');
    const client = await MiniClient.connect(base);
    await client.send('use a');
    assert.match((await client.put('before')).line, /^INSERTED/);
    process.kill(pid, 'SIGKILL');
    // Every shard's tube works again within the failover time: put until INSERTED (bounded).
    await pollUntil(
      'a put through the proxy after the kill',
      async () => {
        for (const t of ['a', 'b', 'c', 'd', 'e', 'f']) {
          await client.send(`use ${t}`);
          if (!(await client.put(t)).line.startsWith('INSERTED')) return undefined;
        }
        return true;
      },
      15_000,
      100,
    );
    assert.match(
      out,
      /primary changed shard=node-0 reason=primary_failed from=127\.0\.0\.1:\d+ to=127\.0\.0\.1:\d+ term=2/,
    );
    assert.match(out, /node-0 exited \(SIGKILL\); starting it again in 5 s/);
    await untilRole(base + 1, { role: 'standby', 'in-sync': 'true' }, 30_000);
    assert.equal((await role(base + 1)).get('term'), '2');
    client.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.equal((await exited)[0], 0, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
