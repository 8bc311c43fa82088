/**
 * The proxy reads every plain TCP client into one shared buffer, and every node connection into
 * another (net's `onread`; session.ts, node/backend.ts): what outlives a read — a request cut by a
 * read boundary, a node reply whose body spans reads — must be the connection's own copy, untouched
 * by other connections' reads that reuse the buffer in between.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ProxyCluster, RawClient, startCluster } from '../support/proxy-harness';

let cluster: ProxyCluster;
before(async () => {
  cluster = await startCluster('stalkd');
});
after(() => cluster.stop());

/** `bytes` bytes that differ from one job to the next (a copy from the wrong place shows). */
function bodyOf(seed: number, bytes: number): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) body[i] = 97 + ((i * 7 + seed * 13) % 26);
  return body;
}

test('read buffer: a request cut by a read keeps its bytes while other clients read', async () => {
  const a = await RawClient.open(cluster.proxy.port);
  const b = await RawClient.open(cluster.proxy.port);
  try {
    assert.equal((await a.cmd('use rb-cut')).line, 'USING rb-cut');
    const body = bodyOf(1, 3000);
    const whole = Buffer.concat([Buffer.from(`put 0 0 60 ${body.length}\r\n`), body, Buffer.from('\r\n')]);
    // Half of the line, then half of the body: each piece is a read the parser must keep.
    a.write(whole.subarray(0, 6));
    const batch = Array.from({ length: 200 }, (_, i) => bodyOf(100 + i, 500)).map((x) =>
      Buffer.concat([Buffer.from(`put 0 0 60 ${x.length}\r\n`), x, Buffer.from('\r\n')]),
    );
    // Over 64 KiB from b between a's pieces: several reads into the shared buffer.
    b.write(Buffer.concat(batch));
    for (let i = 0; i < 200; i++) assert.match((await b.next())?.line ?? '', /^INSERTED \d+$/);
    a.write(whole.subarray(6, 1500));
    b.write(Buffer.concat(batch));
    for (let i = 0; i < 200; i++) assert.match((await b.next())?.line ?? '', /^INSERTED \d+$/);
    a.write(whole.subarray(1500));
    const id = /^INSERTED (\d+)$/.exec((await a.next())?.line ?? '')?.[1];
    assert.ok(id, 'the cut put ran');
    const peeked = await a.cmd(`peek ${id}`);
    assert.deepEqual(peeked.body, body);
  } finally {
    a.close();
    b.close();
  }
});

test('read buffer: node replies whose bodies span reads reach each client intact', async () => {
  const producer = await RawClient.open(cluster.proxy.port);
  const tubes = ['rb-big-0', 'rb-big-1', 'rb-big-2', 'rb-big-3'];
  const consumers = await Promise.all(tubes.map(() => RawClient.open(cluster.proxy.port)));
  try {
    // Three bodies of 60 KB a client: replies cross the 64 KiB reads of the node connection's buffer.
    const bodies = new Map<string, Buffer[]>();
    for (const [t, tube] of tubes.entries()) {
      await producer.cmd(`use ${tube}`);
      const list = [0, 1, 2].map((k) => bodyOf(t * 10 + k, 60_000));
      for (const body of list) await producer.put(body.toString('latin1'));
      bodies.set(tube, list);
    }
    await Promise.all(
      consumers.map(async (c, i) => {
        const tube = tubes[i] as string;
        assert.equal((await c.cmd(`watch ${tube}`)).line, 'WATCHING 2');
        assert.equal((await c.cmd('ignore default')).line, 'WATCHING 1');
        // All three reserves in one write: the node's replies interleave with the other clients'.
        c.write('reserve\r\nreserve\r\nreserve\r\n');
        for (const expected of bodies.get(tube) ?? []) {
          const r = await c.next();
          assert.match(r?.line ?? '', /^RESERVED \d+ 60000$/);
          assert.ok(r?.body?.equals(expected), `${tube}: a body came back changed`);
        }
      }),
    );
  } finally {
    producer.close();
    for (const c of consumers) c.close();
  }
});

test('read buffer: pipelined puts cut at every offset, other clients reading in between', async () => {
  const a = await RawClient.open(cluster.proxy.port);
  const b = await RawClient.open(cluster.proxy.port);
  try {
    assert.equal((await a.cmd('use rb-every')).line, 'USING rb-every');
    // Bodies holding CRLF and the bytes of a put line, so a misplaced copy cannot parse the same.
    const bodies = [Buffer.from('x'), Buffer.from('put 0 0 60 3\r\nabc\r\n'), bodyOf(7, 40)];
    const stream = Buffer.concat(
      bodies.map((body) =>
        Buffer.concat([Buffer.from(`put 9 0 60 ${body.length}\r\n`), body, Buffer.from('\r\n')]),
      ),
    );
    const noise = Buffer.from(`put 0 0 60 ${stream.length}\r\n${'~'.repeat(stream.length)}\r\n`);
    const sent: { id: string; body: Buffer }[] = [];
    for (let at = 1; at < stream.length; at++) {
      // A complete command in front of the piece: its reply shows the proxy has read the piece.
      a.write(Buffer.concat([Buffer.from('list-tube-used\r\n'), stream.subarray(0, at)]));
      assert.equal((await a.next())?.line, 'USING rb-every');
      // b's put is read into the same buffer, over where a's piece was.
      b.write(noise);
      assert.match((await b.next())?.line ?? '', /^INSERTED \d+$/);
      a.write(stream.subarray(at));
      for (const body of bodies) {
        const id = /^INSERTED (\d+)$/.exec((await a.next())?.line ?? '')?.[1];
        assert.ok(id, `cut at ${at}: a put was not inserted`);
        sent.push({ id, body });
      }
    }
    // Every body back, byte for byte, pipelined: node replies with bodies one after another.
    a.write(sent.map((s) => `peek ${s.id}\r\n`).join(''));
    for (const s of sent) {
      const r = await a.next();
      assert.equal(r?.line, `FOUND ${s.id} ${s.body.length}`);
      assert.ok(r?.body?.equals(s.body), `job ${s.id}: its body came back changed`);
    }
  } finally {
    a.close();
    b.close();
  }
});
