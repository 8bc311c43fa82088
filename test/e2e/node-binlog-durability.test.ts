/**
 * The server's durability gate and disk-full behaviour, in process with the binlog's FileOps seam
 * (the node as `stalkd node -b DIR` wires it: openBinlog → restoreInto before listening → job source).
 * With -f 0 a reply confirming a logged change leaves only after that record's fdatasync returned;
 * many connections' records share one fsync; a full disk turns puts into OUT_OF_MEMORY while
 * deletes and everything else keep working.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { type BinlogOptions, type FileOps, nodeFileOps, openBinlog, restoreInto } from '../../src/binlog';
import { decodeRecord, FILE_HEADER_BYTES, RecordType } from '../../src/binlog/format';
import { type Client, connect } from '../../src/client';
import { type NodeServer, startNodeServer } from '../../src/server/node-server';
import { FaultyFileOps, tempDir } from '../support/binlog-fixtures';

/** nodeFileOps whose fdatasync calls are counted and, while `holding`, parked until release(). */
class HeldSyncs {
  readonly ops: FileOps;
  holding = false;
  fdatasyncs = 0;
  writevs = 0;
  private parked: (() => void)[] = [];
  private onPark: (() => void)[] = [];

  constructor() {
    held.push(this);
    this.ops = {
      ...nodeFileOps,
      writevSync: (fd, bufs, position) => {
        this.writevs++;
        nodeFileOps.writevSync(fd, bufs, position);
      },
      fdatasync: async (fd) => {
        this.fdatasyncs++;
        if (this.holding) {
          await new Promise<void>((go) => {
            this.parked.push(go);
            for (const wake of this.onPark.splice(0)) wake();
          });
        }
        await nodeFileOps.fdatasync(fd);
      },
    };
  }

  /** Resolves once an fdatasync is parked. */
  untilParked(): Promise<void> {
    if (this.parked.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.onPark.push(resolve));
  }

  release(): void {
    this.holding = false;
    for (const go of this.parked.splice(0)) go();
  }
}

const servers: NodeServer[] = [];
const clients: Client[] = [];
const held: HeldSyncs[] = [];

afterEach(async () => {
  for (const h of held.splice(0)) h.release(); // a failed test may have left an fsync parked
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.close();
});

/** A node on dir as `stalkd node -b dir` starts it, with the given FileOps. */
async function startLogged(dir: string, options: BinlogOptions, ops: FileOps = nodeFileOps) {
  const lines: string[] = [];
  const opened = await openBinlog(dir, { log: (line) => lines.push(line), ...options }, ops);
  const server = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    log: opened.binlog,
    beforeListen: (engine) => {
      restoreInto(engine, opened);
      opened.binlog.attachJobSource((id) => engine.jobSource(id));
    },
  });
  servers.push(server);
  await opened.binlog.settled(); // the new segment's start record is on disk
  return { server, binlog: opened.binlog, lines };
}

async function client(server: NodeServer): Promise<Client> {
  const c = await connect({ host: '127.0.0.1', port: server.port });
  clients.push(c);
  await c.listTubeUsed(); // the server has accepted it
  return c;
}

function binlogDurable(server: NodeServer): number {
  return server.durableSeq();
}

/** Ids of the put records in dir's segment files as they are now (what a kill -9 leaves). */
function putIdsOnDisk(dir: string): Set<number> {
  const ids = new Set<number>();
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.stalkd'))) {
    const buf = fs.readFileSync(path.join(dir, name));
    for (let off = FILE_HEADER_BYTES; off < buf.length; ) {
      const r = decodeRecord(buf, off);
      if (!r.ok) break;
      if (r.record.type === RecordType.Put) ids.add(r.record.job.id);
      off += r.bytes;
    }
  }
  return ids;
}

/** Bytes the server has handed to the socket of its n-th connection (in accept order). */
function bytesSentTo(server: NodeServer, n: number): number {
  const c = [...server.connections][n];
  assert.ok(c);
  return c.socket.bytesWritten;
}

describe('node binlog durability', () => {
  it('durability: with -f 0 INSERTED, BURIED, KICKED, RELEASED and DELETED leave only after the fdatasync returned', async () => {
    const syncs = new HeldSyncs();
    const { server, binlog } = await startLogged(tempDir('stalkd-node-'), { fsyncEveryMs: 0 }, syncs.ops);
    const a = await client(server); // connection 0
    const other = await client(server);

    /**
     * Sends `command` on a while the record's fdatasync is parked: nothing may reach a (not even
     * the reply to a later request), until the fdatasync is released.
     */
    const gated = async <T>(command: () => Promise<T>): Promise<T> => {
      syncs.holding = true;
      const sentBefore = bytesSentTo(server, 0);
      let released = false;
      let early = false;
      const reply = command().then((value) => {
        early ||= !released;
        return value;
      });
      const later = a.listTubeUsed().then(() => {
        early ||= !released;
      });
      await syncs.untilParked(); // the record is written, its fdatasync in progress
      assert.ok(binlog.durableSeq() < server.engine.lastJournalSeq, 'the record is not durable yet');
      await other.stats(); // a round trip: the server has run a's requests long ago
      assert.equal(bytesSentTo(server, 0), sentBefore, 'no byte went to the client before the fsync');
      assert.equal(early, false);
      released = true;
      syncs.release();
      const value = await reply;
      await later;
      assert.equal(early, false, 'the reply came after the release');
      return value;
    };

    const id = await gated(() => a.put('durable'));
    assert.equal((await a.reserveJob(id)) !== 'NOT_FOUND', true);
    assert.equal(await gated(() => a.bury(id, 5)), 'BURIED');
    assert.equal(await gated(() => a.kickJob(id)), 'KICKED');
    assert.equal((await a.reserveJob(id)) !== 'NOT_FOUND', true);
    assert.equal(await gated(() => a.bury(id, 6)), 'BURIED');
    assert.equal(await gated(() => a.kick(10)), 1, 'KICKED 1');
    assert.equal((await a.reserveJob(id)) !== 'NOT_FOUND', true);
    assert.equal(await gated(() => a.release(id, 7, 0)), 'RELEASED');
    assert.equal(await gated(() => a.delete(id)), 'DELETED');
  });

  it('durability: a job is named to another client only once its put record is in the OS (not yet fsynced)', async () => {
    const syncs = new HeldSyncs();
    const dir = tempDir('stalkd-node-');
    const { server } = await startLogged(dir, { fsyncEveryMs: 0 }, syncs.ops);
    const producer = await client(server);
    const consumer = await client(server);
    const control = await client(server);
    syncs.holding = true;
    const reserved = consumer.reserveWithTimeout(30);
    for (let tries = 0; (await control.stats())['current-waiting'] < 1; tries++) {
      assert.ok(tries < 10_000, 'the reserve never started waiting');
    }
    const inserted = producer.put('seen before its INSERTED');
    const job = await reserved;
    assert.ok(typeof job === 'object', `RESERVED, got ${String(job)}`);
    assert.ok(
      syncs.fdatasyncs >= 1 && binlogDurable(server) < server.engine.lastJournalSeq,
      'fsync still held',
    );
    // The files now are what a kill -9 would leave: the put record must be there.
    assert.ok(putIdsOnDisk(dir).has(job.id), `job ${job.id} named in RESERVED is not on disk`);
    syncs.release();
    assert.equal(await inserted, job.id);
  });

  it('durability: the puts of 16 connections that arrive during one fsync are written at once and share the next fsync', async () => {
    const syncs = new HeldSyncs();
    const { server } = await startLogged(tempDir('stalkd-node-'), { fsyncEveryMs: 0 }, syncs.ops);
    const control = await client(server);
    const writers: Client[] = [];
    for (let i = 0; i < 16; i++) writers.push(await client(server));

    syncs.holding = true;
    let released = false;
    const first = (writers[0] as Client).put('first').then((id) => ({ id, early: !released }));
    await syncs.untilParked();
    const putsBefore = (await control.stats())['cmd-put'];
    const rest = writers.slice(1).map((w, i) => w.put(`job ${i}`).then((id) => ({ id, early: !released })));
    // Wait (one round trip per try) until the server has taken all 15 puts into its batch.
    for (let tries = 0; (await control.stats())['cmd-put'] < putsBefore + 15; tries++) {
      assert.ok(tries < 10_000, 'the server never received the puts');
    }
    const [syncsHeld, writesHeld] = [syncs.fdatasyncs, syncs.writevs];
    released = true;
    syncs.release();
    const answers = await Promise.all([first, ...rest]);
    assert.deepEqual(
      answers.filter((a) => a.early),
      [],
      'no INSERTED before its fsync',
    );
    assert.equal(new Set(answers.map((a) => a.id)).size, 16);
    assert.equal(syncs.fdatasyncs - syncsHeld, 1, '15 puts from 15 connections, one fdatasync');
    assert.equal(syncs.writevs - writesHeld, 0, 'each was in the OS before its INSERTED could be sent');
  });

  it('durability: pipelined puts then quit — every reply leaves before the FIN, released in the turn (-f 50) or by the fsync (-f 0)', async () => {
    for (const fsyncEveryMs of [50, 0]) {
      const { server } = await startLogged(tempDir('stalkd-node-'), { fsyncEveryMs });
      const socket = net.connect(server.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(`${'put 0 0 60 1\r\nx\r\n'.repeat(3)}list-tube-used\r\nquit\r\n`);
      await closed;
      assert.match(
        text,
        /^INSERTED \d+\r\nINSERTED \d+\r\nINSERTED \d+\r\nUSING default\r\n$/,
        `-f ${fsyncEveryMs}`,
      );
    }
  });

  it('durability: a client that half-closes while its INSERTED waits for the fsync (-f 0) gets the reply, then the FIN', async () => {
    const syncs = new HeldSyncs();
    const { server } = await startLogged(tempDir('stalkd-node-'), { fsyncEveryMs: 0 }, syncs.ops);
    const control = await client(server);
    syncs.holding = true;
    const socket = net.connect(server.port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.end('put 0 0 60 4\r\nlast\r\n'); // the request, then the FIN
    await syncs.untilParked(); // the put's record is written, its fdatasync held
    // A round trip on another connection: the server has read this one's FIN (sent before it).
    await control.stats();
    assert.equal(text, '', 'nothing before the fsync');
    syncs.release();
    await ended; // before the fix the reply left but the connection was never ended
    assert.match(text, /^INSERTED \d+\r\n$/);
    socket.destroy();
  });

  it('durability: close() (what SIGTERM does) first sends the confirmations of every change made before it', async () => {
    const syncs = new HeldSyncs();
    const dir = tempDir('stalkd-node-');
    const { server } = await startLogged(dir, { fsyncEveryMs: 0 }, syncs.ops);
    const control = await client(server);
    const writers: Client[] = [];
    for (let i = 0; i < 8; i++) writers.push(await client(server));
    syncs.holding = true;
    const puts = writers.flatMap((w, i) =>
      Array.from({ length: 25 }, (_, k) =>
        w.put(`job ${i}.${k}`).then(
          (id) => id,
          (err: Error) => err.message,
        ),
      ),
    );
    for (let tries = 0; (await control.stats())['cmd-put'] < 200; tries++) {
      assert.ok(tries < 10_000, 'the server never received the puts');
    }
    await syncs.untilParked();
    const closing = servers.splice(0)[0]?.close();
    syncs.release();
    await closing;
    const answers = await Promise.all(puts);
    assert.deepEqual(
      answers.filter((a) => typeof a !== 'number'),
      [],
      'every put made before close() was confirmed before the connection closed',
    );
    clients.length = 0;
    const again = await startLogged(dir, { fsyncEveryMs: 0 });
    assert.equal((await (await client(again.server)).stats())['current-jobs-ready'], 200);
  });

  it('durability: a full disk answers put with OUT_OF_MEMORY, accepted jobs stay deletable, the node keeps serving; a restart agrees', async () => {
    const dir = tempDir('stalkd-node-');
    const ops = new FaultyFileOps();
    let full = false;
    // Space is allocated only when a segment file is preallocated (spare-*.tmp); writes into an
    // existing segment overwrite blocks it already owns.
    ops.rule = (op, file) =>
      full && file.includes('spare-') && (op === 'write' || op === 'writeSync') ? 'ENOSPC' : undefined;
    const options = { fsyncEveryMs: 0, segmentBytes: 8192 };
    const { server, lines } = await startLogged(dir, options, ops);
    const p = await client(server);
    const w = await client(server);
    const body = 'b'.repeat(700);
    const putBody = (): Promise<string> => p.raw(`put 0 0 60 ${body.length}`, body).then((r) => r.line);
    const early = await p.put('before the disk filled');
    full = true;
    const accepted: number[] = [];
    let refused = 0;
    for (let i = 0; i < 100 && refused === 0; i++) {
      const line = await putBody();
      if (line === 'OUT_OF_MEMORY') refused++;
      else accepted.push(Number(/^INSERTED (\d+)$/.exec(line)?.[1]));
    }
    assert.equal(refused, 1, 'the disk filled within 100 puts');
    assert.ok(accepted.length > 0, 'puts into the current segment were accepted first');
    assert.equal(await putBody(), 'OUT_OF_MEMORY', 'refused while full');
    assert.equal(await p.listTubeUsed(), 'default', 'the connection is in sync after the refusals');
    assert.match(lines.join('\n'), /cannot create a new segment .*ENOSPC.*puts answer OUT_OF_MEMORY/);

    // Everything else keeps working: stats, reserve, release, and every accepted job is deletable.
    assert.equal((await w.stats())['current-jobs-ready'], accepted.length + 1);
    const reserved = await w.reserveWithTimeout(0);
    assert.ok(typeof reserved === 'object');
    assert.equal(await w.release(reserved.id, 0, 0), 'RELEASED');
    const kept = accepted.slice(-2);
    for (const id of accepted.slice(0, -2)) assert.equal(await w.delete(id), 'DELETED');
    assert.equal(await putBody(), 'OUT_OF_MEMORY', 'still full: deletes use the room their puts reserved');

    full = false;
    const later = await p.put('after the disk was freed');
    assert.ok(later > Math.max(...accepted));
    await servers.splice(0)[0]?.close();
    clients.length = 0;

    const again = await startLogged(dir, options);
    const c = await client(again.server);
    const s = await c.stats();
    assert.equal(s['current-jobs-ready'], 4);
    assert.equal((await c.peek(early))?.body.toString(), 'before the disk filled');
    for (const id of kept) assert.equal((await c.peek(id))?.body.toString(), body);
    assert.equal((await c.peek(later))?.body.toString(), 'after the disk was freed');
    for (const id of accepted.slice(0, -2)) assert.equal(await c.peek(id), null, `deleted job ${id}`);
    assert.ok((await c.put('next')) > later);
  });
});
