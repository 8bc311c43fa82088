/**
 * The proxy hop floor's relays (bench/relay.c, bench/relay-server.ts) and the bench targets built
 * on them (relay-c, relay-node: beanstalkd -b behind a relay). A relay that lost, reordered or
 * corrupted a byte, or kept a side open, would make the floor a wrong number: each relay carries
 * 32 MiB both ways to an upstream that reads slowly (so its writes hit EAGAIN and it must hold
 * back, with the Node relay's reused read buffers still pointing at pending writes), closes each
 * side when the other goes, and — where Debian's beanstalkd is installed — runs the bench
 * generator's ping-pong and put loads through the targets, which check every reply byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { prepareGenerator, prepareRelay, runLoadgen } from '../../bench/loadgen';
import {
  BEANSTALKD_PATH,
  killAll,
  type Spawned,
  spawnRelay,
  startTarget,
  type TargetName,
} from '../../bench/targets';

const KINDS: ('c' | 'node')[] = prepareRelay() ? ['c', 'node'] : ['node'];
if (KINDS.length === 1) console.log('relay: bench/relay.c needs a C compiler; only the Node relay tested');

/** A server on an ephemeral port whose accepted sockets go to `onSocket`. */
async function listen(onSocket: (s: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function stopRelay(relay: Spawned): Promise<void> {
  if (relay.child.exitCode !== null || relay.child.signalCode !== null) return;
  const exited = once(relay.child, 'exit');
  relay.child.kill('SIGKILL');
  await exited;
}

// A test that timed out skips its finally: its relay still goes.
after(() => killAll());

const sha = (chunks: Buffer[]): string => createHash('sha256').update(Buffer.concat(chunks)).digest('hex');

for (const kind of KINDS) {
  // A relay that drops bytes leaves the client waiting for the rest: the timeout turns that into a failure.
  test(`relay (${kind}): 32 MiB each way arrive byte for byte through an upstream that reads slowly`, {
    timeout: 60_000,
  }, async () => {
    // The upstream echoes, taking one read per loop turn: slower than the relay can copy, so the
    // relay's writes to it fill the socket and the relay has to wait for EPOLLOUT / completion.
    const upstream = await listen((s) => {
      s.on('data', (chunk: Buffer) => {
        s.pause();
        s.write(chunk, () => setImmediate(() => s.resume()));
      });
      s.on('end', () => s.end());
    });
    const relay = await spawnRelay(kind, upstream.port);
    try {
      const payload = randomBytes(32 * 1024 * 1024);
      const client = net.connect(relay.port, '127.0.0.1');
      const echoed: Buffer[] = [];
      let echoedBytes = 0;
      const done = new Promise<void>((resolve, reject) => {
        client.on('data', (chunk: Buffer) => {
          echoed.push(chunk);
          echoedBytes += chunk.length;
          if (echoedBytes >= payload.length) resolve();
        });
        client.on('error', reject);
        client.on('close', () => reject(new Error(`closed after ${echoedBytes} bytes`)));
      });
      // In pieces of varied size, so reads and writes split at many boundaries.
      for (let off = 0, step = 1; off < payload.length; step = (step * 7 + 13) % 200_000) {
        const end = Math.min(payload.length, off + step + 1);
        client.write(payload.subarray(off, end));
        off = end;
      }
      await done;
      assert.equal(echoedBytes, payload.length);
      assert.equal(sha(echoed), sha([payload]), 'the echo differs from what was sent');
      client.destroy();
    } finally {
      await stopRelay(relay);
      upstream.server.close();
    }
  });

  test(`relay (${kind}): a side that closes closes the other`, async () => {
    const accepted: net.Socket[] = [];
    let onAccept: () => void = () => {};
    const upstream = await listen((s) => {
      accepted.push(s);
      onAccept();
    });
    const connectThrough = async (port: number): Promise<{ client: net.Socket; server: net.Socket }> => {
      const before = accepted.length;
      const arrived = new Promise<void>((resolve) => {
        onAccept = () => {
          if (accepted.length > before) resolve();
        };
      });
      const client = net.connect(port, '127.0.0.1');
      await Promise.all([once(client, 'connect'), arrived]);
      return { client, server: accepted[before] as net.Socket };
    };
    const relay = await spawnRelay(kind, upstream.port);
    try {
      // The client goes: the upstream connection ends.
      const a = await connectThrough(relay.port);
      a.client.write('ping\r\n');
      const [line] = (await once(a.server, 'data')) as [Buffer];
      assert.equal(line.toString(), 'ping\r\n');
      const upstreamEnded = once(a.server, 'end');
      a.client.end();
      await upstreamEnded;
      a.server.destroy();

      // The upstream goes (what it sent first still arrives): the client connection ends.
      const b = await connectThrough(relay.port);
      const got: Buffer[] = [];
      b.client.on('data', (c: Buffer) => got.push(c));
      const clientEnded = once(b.client, 'end');
      b.server.end('bye\r\n');
      await clientEnded;
      assert.equal(Buffer.concat(got).toString(), 'bye\r\n');
      b.client.destroy();
    } finally {
      await stopRelay(relay);
      upstream.server.close();
    }
  });
}

if (BEANSTALKD_PATH) {
  const targets: TargetName[] = KINDS.map((k) => (k === 'c' ? 'relay-c' : 'relay-node'));
  for (const name of targets) {
    test(`bench target ${name}: beanstalkd -b behind the relay passes the generator's checks`, async () => {
      const gen = prepareGenerator();
      const dir = mkdtempSync(path.join(os.tmpdir(), `stalkd-${name}-`));
      const t = await startTarget(name, { maxJobBytes: 65535, binlog: { dir, fsync: 'default' } }, gen, 100);
      try {
        assert.equal(t.pids.length, 2, 'the relay and beanstalkd are both counted');
        assert.deepEqual(t.roles, ['relay', 'beanstalkd']);
        const base = { seconds: 60, setupSeconds: 60, bodyBytes: 100, tubePerConn: true };
        const cycle = await runLoadgen(
          gen,
          { ...base, mode: 'cycle', conns: 1, depth: 1, count: 2000 },
          t.host,
          t.port,
        );
        assert.equal(cycle.ops, 2000);
        assert.ok(cycle.cycleUs && cycle.cycleUs.count === 2000);
        // Pipelined puts: many requests per read, replies split across reads.
        for (const depth of [1, 64]) {
          const load = { ...base, mode: 'put' as const, conns: 8, depth, count: 8000, checkMonotonic: true };
          const put = await runLoadgen(gen, load, t.host, t.port);
          assert.equal(put.ops, 8000, `put × ${depth} in flight`);
          assert.equal(put.capped, false);
        }
      } finally {
        await t.stop('SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      }
      for (const pid of t.pids)
        assert.throws(() => process.kill(pid, 0), 'every process of the target stopped');
    });
  }
} else console.log('relay: the bench targets need beanstalkd (apt-get install beanstalkd); not played');
