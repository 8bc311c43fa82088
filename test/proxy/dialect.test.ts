/**
 * The proxy speaks one beanstalkd release to its clients (`--compat`, default 1.13), whatever its
 * nodes run: in front of Debian's beanstalkd 1.12 it answers as 1.13 by default (quoted strings,
 * `version: "1.13"`, strict reserve-with-timeout), and as 1.12 with `--compat 1.12` in front of
 * stalkd nodes (which speak 1.13). Whole conversations in both styles: test/e2e/transcripts-proxy.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Dialect } from '../../src/protocol/dialect';
import {
  type ProxyCluster,
  RawClient,
  startStalkdCluster,
  startStockCluster,
} from '../support/proxy-harness';
import { BEANSTALKD_PATH, referenceVersion } from '../support/reference';
import { whenInstalled } from '../support/requires';

async function conversation(cluster: ProxyCluster): Promise<Record<string, string>> {
  const c = await RawClient.open(cluster.proxy.port);
  try {
    await c.cmd('use orders');
    const id = await c.put('x');
    const text = async (line: string): Promise<string> => (await c.cmd(line)).body?.toString() ?? '';
    return {
      tube: await text('stats-tube orders'),
      job: await text(`stats-job ${id}`),
      stats: await text('stats'),
      rwt: (await c.cmd('reserve-with-timeout abc')).line,
    };
  } finally {
    c.close();
  }
}

function assertStyle(seen: Record<string, string>, dialect: Dialect): void {
  const q = (value: string): string => (dialect === '1.12' ? value : `"${value}"`);
  assert.match(seen.tube ?? '', new RegExp(`^---\\nname: ${q('orders')}\\n`));
  assert.match(seen.job ?? '', new RegExp(`\\ntube: ${q('orders')}\\n`));
  assert.match(seen.stats ?? '', new RegExp(`\\nversion: "${dialect}"\\n`));
  assert.match(seen.stats ?? '', dialect === '1.12' ? /\nhostname: [^"\n]+\n/ : /\nhostname: "[^"\n]+"\n/);
  assert.equal(seen.rwt, dialect === '1.12' ? 'TIMED_OUT' : 'BAD_FORMAT');
}

describe('proxy dialect', () => {
  whenInstalled(BEANSTALKD_PATH !== undefined, 'beanstalkd', () => {
    test(`dialect: in front of beanstalkd ${referenceVersion()} the proxy answers as 1.13 by default`, async () => {
      const cluster = await startStockCluster(3);
      try {
        assertStyle(await conversation(cluster), '1.13');
      } finally {
        await cluster.stop();
      }
    });
  });

  test('dialect: --compat 1.12 in front of stalkd nodes answers as 1.12', async () => {
    const cluster = await startStalkdCluster(3, { dialect: '1.12' });
    try {
      assertStyle(await conversation(cluster), '1.12');
    } finally {
      await cluster.stop();
    }
  });
});
