/**
 * The proxy itself restarted under load: producers and workers go through a proxy process that is
 * killed (SIGKILL) and later stopped (SIGTERM) and started again on the same port; the clients
 * reconnect and carry on. At the end every acknowledged put was delivered to a worker or is still
 * in a node — none is lost — no job was deleted twice, and none whose delete was acknowledged is
 * still there. (A delete whose reply was lost with the proxy may or may not have happened: that
 * job counts as delivered, since a worker received it.)
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { freePort } from '../support/cli-process';
import { type StalkdProcess, startProxyProcess } from '../support/processes';
import { RawClient } from '../support/proxy-harness';

const TUBES = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];

/** Connects, retrying while the proxy is down (at most `attempts` × 20 ms). */
async function reconnect(port: number, attempts = 500): Promise<RawClient> {
  for (let i = 0; i < attempts; i++) {
    try {
      return await RawClient.open(port);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  throw new Error(`proxy on ${port} did not come back`);
}

interface Ledger {
  /** body → id of every acknowledged put. */
  acked: Map<string, number>;
  /** bodies a worker received (RESERVED). */
  delivered: Set<string>;
  /** bodies whose delete was acknowledged. */
  deleted: Set<string>;
  deletedTwice: string[];
  reconnects: number;
}

async function producer(port: number, k: number, ledger: Ledger, running: () => boolean): Promise<void> {
  let c = await reconnect(port);
  let seq = 0;
  while (running()) {
    const body = `p${k}-${seq++}`;
    try {
      await c.cmd(`use ${TUBES[seq % TUBES.length]}`);
      const r = await c.cmd(`put 0 0 60 ${body.length}`, body);
      const m = /^INSERTED (\d+)$/.exec(r.line);
      if (m) ledger.acked.set(body, Number(m[1]));
    } catch {
      // The proxy went away mid-command: this put is unacknowledged (it may or may not exist).
      c.close();
      ledger.reconnects++;
      c = await reconnect(port);
    }
  }
  c.close();
}

async function worker(port: number, ledger: Ledger, running: () => boolean): Promise<void> {
  let c: RawClient | null = null;
  while (running()) {
    try {
      if (!c) {
        c = await reconnect(port);
        for (const tube of TUBES) await c.cmd(`watch ${tube}`);
        await c.cmd('ignore default');
      }
      const r = await c.cmd('reserve-with-timeout 1', undefined, 5000);
      if (!r.line.startsWith('RESERVED ')) continue;
      const id = r.line.split(' ')[1];
      const body = r.body?.toString() ?? '';
      ledger.delivered.add(body);
      const d = await c.cmd(`delete ${id}`);
      if (d.line !== 'DELETED') continue;
      if (ledger.deleted.has(body)) ledger.deletedTwice.push(body);
      ledger.deleted.add(body);
    } catch {
      c?.close();
      c = null;
      ledger.reconnects++;
    }
  }
  c?.close();
}

/** Resolves once `n` puts were acknowledged in total (bounded poll of the ledger). */
async function untilAcked(ledger: Ledger, n: number): Promise<void> {
  for (let i = 0; i < 1500 && ledger.acked.size < n; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ledger.acked.size >= n, `only ${ledger.acked.size} puts acknowledged`);
}

test('failure: the proxy killed and restarted while clients reconnect: every acknowledged put is delivered or still queued', async () => {
  const nodes: NodeServer[] = await Promise.all(
    [0, 1, 2].map(() => startNodeServer({ host: '127.0.0.1', port: 0 })),
  );
  const port = await freePort();
  const startProxy = (): Promise<StalkdProcess> =>
    startProxyProcess(
      nodes.map((n) => n.port),
      ['-p', String(port)],
    );
  let proxy = await startProxy();
  const ledger: Ledger = {
    acked: new Map(),
    delivered: new Set(),
    deleted: new Set(),
    deletedTwice: [],
    reconnects: 0,
  };
  let producing = true;
  let working = true;
  const producers = [0, 1, 2].map((k) => producer(port, k, ledger, () => producing));
  const workers = [0, 1].map(() => worker(port, ledger, () => working));
  try {
    await untilAcked(ledger, 150);
    await proxy.kill();
    proxy = await startProxy();
    await untilAcked(ledger, 350);
    assert.equal(await proxy.stop(), 0, 'SIGTERM: exit 0');
    proxy = await startProxy();
    await untilAcked(ledger, 550);
    producing = false;
    await Promise.all(producers);
    working = false;
    await Promise.all(workers);

    // What the workers did not get is still in the nodes.
    const left = new Set<string>();
    const c = await reconnect(port);
    for (const tube of TUBES) await c.cmd(`watch ${tube}`);
    await c.cmd('ignore default');
    for (let i = 0; i <= ledger.acked.size * 2; i++) {
      const r = await c.cmd('reserve-with-timeout 0');
      if (r.line === 'TIMED_OUT') break;
      left.add(r.body?.toString() ?? '');
    }
    c.close();
    const lost = [...ledger.acked.keys()].filter((body) => !ledger.delivered.has(body) && !left.has(body));
    const back = [...left].filter((body) => ledger.deleted.has(body));
    console.log(
      `# proxy restart: ${ledger.acked.size} puts acknowledged, ${ledger.delivered.size} delivered, ${ledger.deleted.size} deleted, ${left.size} left, ${ledger.reconnects} reconnects`,
    );
    assert.deepEqual(lost, [], 'no acknowledged put is lost');
    assert.deepEqual(ledger.deletedTwice, [], 'no job deleted twice');
    assert.deepEqual(back, [], 'no deleted job came back');
    assert.ok(ledger.reconnects >= 2, 'the clients did reconnect');
  } finally {
    producing = false;
    working = false;
    await proxy.kill();
    await Promise.allSettled([...producers, ...workers]);
    await Promise.all(nodes.map((n) => n.close()));
  }
});
