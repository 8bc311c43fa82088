/** Replication frames: every frame round-trips however the stream is cut; bad input is refused. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  encodeAck,
  encodeDataHead,
  encodeHeartbeat,
  encodeSegment,
  type Frame,
  FrameError,
  FrameReader,
  MAX_FRAME_PAYLOAD_BYTES,
} from '../../src/replication/frames';
import { chunkings } from '../support/parse-three-ways';

function readAll(chunks: readonly Buffer[]): Frame[] {
  const reader = new FrameReader();
  const out: Frame[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) {
      // Views into the chunks: copy what the test keeps, as the receiver does.
      out.push(
        'bytes' in f
          ? { ...f, bytes: Buffer.from(f.bytes) }
          : 'header' in f
            ? { ...f, header: Buffer.from(f.header) }
            : f,
      );
    }
    assert.equal(reader.next(), undefined);
  }
  assert.equal(reader.bufferedBytes, 0);
  return out;
}

describe('replication frames', () => {
  const header = Buffer.alloc(32, 7);
  const records = Buffer.from('0123456789abcdef');
  const stream = Buffer.concat([
    encodeSegment(12, 10 * 1024 * 1024, header),
    encodeDataHead(12, 32, 2 ** 40, records.length),
    records,
    encodeHeartbeat(3, 2 ** 40 + 1, 1_700_000_000_123, true),
    encodeAck(99, 100),
    encodeDataHead(12, 48, 0, 0),
  ]);
  const expected: Frame[] = [
    { type: 1, index: 12, capacity: 10 * 1024 * 1024, header },
    { type: 2, index: 12, offset: 32, lastLsn: 2 ** 40, bytes: records },
    { type: 3, term: 3, lastLsn: 2 ** 40 + 1, nowMs: 1_700_000_000_123, inSync: true },
    { type: 16, durableLsn: 99, receivedLsn: 100 },
    { type: 2, index: 12, offset: 48, lastLsn: 0, bytes: Buffer.alloc(0) },
  ];

  test('frames: round trip in one chunk, byte by byte and split at every boundary', () => {
    for (const way of chunkings(stream)) assert.deepEqual(readAll(way.chunks), expected, way.name);
  });

  test('frames: an unknown type, a bad header or an oversized frame is a FrameError, not an allocation', () => {
    const unknown = Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]);
    const dirty = Buffer.from([2, 1, 0, 0, 0, 0, 0, 0]);
    const huge = Buffer.alloc(8);
    huge[0] = 2;
    huge.writeUInt32LE(MAX_FRAME_PAYLOAD_BYTES + 1, 4);
    const shortAck = Buffer.from([16, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]);
    for (const bad of [unknown, dirty, huge, shortAck]) {
      const reader = new FrameReader();
      reader.push(bad);
      assert.throws(() => reader.next(), FrameError);
    }
  });

  test('frames: a number beyond 2^53 is refused', () => {
    const ack = encodeAck(1, 1);
    ack.writeBigUInt64LE(2n ** 60n, 8);
    const reader = new FrameReader();
    reader.push(ack);
    assert.throws(() => reader.next(), /2\^53/);
  });
});
