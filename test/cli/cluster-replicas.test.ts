/**
 * `stalkd cluster --replicas 2`: standbys laid out next to the primaries and printed at start, the
 * members forming shards; kill -9 of a primary while putting through the proxy — the proxy fails
 * over by itself, puts go on, and the killed member is started again and rejoins as a standby; the
 * proxy's /metrics counts the failover and shows the shard's new primary, term and standbys.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { freePortRun, httpGet } from '../support/cli-process';
import { parseExposition, sampleValue } from '../support/exposition';
import { MiniClient } from '../support/mini-client';
import { pollUntil } from '../support/prometheus';
import { role, untilRole } from '../support/shard';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('cluster: --replicas 2 starts two standbys per node, and a killed primary is failed over and rejoins', async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'stalkd-cluster-r-'));
  const base = await freePortRun(13); // client ports base..base+6, metrics ports base+7..base+13
  const metricsPort = base + 7;
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
      String(metricsPort),
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
    const changed =
      /primary changed shard=node-0 reason=primary_failed from=127\.0\.0\.1:\d+ to=(127\.0\.0\.1:\d+) term=2/.exec(
        out,
      );
    assert.ok(changed, out);
    const promoted = changed[1] as string;
    assert.match(out, /node-0 exited \(SIGKILL\); starting it again in 5 s/);
    await untilRole(base + 1, { role: 'standby', 'in-sync': 'true' }, 30_000);
    assert.equal((await role(base + 1)).get('term'), '2');
    // The proxy's metrics: one failover of node-0 by this proxy, none of node-1; the new primary
    // at term 2; two in-sync standbys again once the killed member is back (as the proxy polls).
    const shard0 = { stalkd_node: 'node-0' };
    const samples = await pollUntil(
      'the proxy seeing two in-sync standbys of node-0 again',
      async () => {
        const s = parseExposition((await httpGet(metricsPort, '/metrics')).body);
        return sampleValue(s, 'stalkd_proxy_shard_in_sync_standbys', shard0) === 2 ? s : undefined;
      },
      10_000,
      100,
    );
    const failovers = (shard: string, reason: string) =>
      sampleValue(samples, 'stalkd_proxy_failovers_total', { stalkd_node: shard, reason });
    assert.equal(failovers('node-0', 'primary_failed'), 1);
    assert.equal(failovers('node-0', 'adopted'), 0);
    assert.equal(failovers('node-1', 'primary_failed'), 0);
    assert.equal(sampleValue(samples, 'stalkd_proxy_failover_seconds_count'), 1);
    const seconds = sampleValue(samples, 'stalkd_proxy_failover_seconds_sum');
    assert.ok(seconds >= 2 && seconds < 15, `time to fail over ${seconds} s (--failover-after-ms 2000)`);
    assert.equal(sampleValue(samples, 'stalkd_proxy_shard_term', shard0), 2);
    assert.equal(
      sampleValue(samples, 'stalkd_proxy_shard_primary_info', { ...shard0, primary: promoted }),
      1,
    );
    assert.equal(sampleValue(samples, 'stalkd_proxy_shard_term', { stalkd_node: 'node-1' }), 1);
    client.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.equal((await exited)[0], 0, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
