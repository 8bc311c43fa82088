/**
 * The replication stream's frames (docs/replication.md, "What is sent"). After the `x-replicate`
 * handshake line both directions carry frames: `type u8, 3 zero bytes, payload length u32`, then the
 * payload, integers little-endian.
 *
 *   SEGMENT   primary → standby  index u32, capacity u64, the 32-byte file header
 *   DATA      primary → standby  index u32, offset u64, LSN of its last whole record u64, bytes
 *   HEARTBEAT primary → standby  term u64, last LSN appended u64, time ms u64, in sync u64 (0/1)
 *   ACK       standby → primary  durable LSN u64, received LSN u64
 *
 * A DATA frame's bytes are whole records (or a damaged region copied as it is), so the receiver
 * never holds half a record. The reader bounds what it accepts: a frame larger than the largest
 * record plus its fixed fields is a protocol error, never an allocation.
 */
import { FILE_HEADER_BYTES, MAX_PAYLOAD_BYTES } from '../binlog/format';

export const FrameType = { Segment: 1, Data: 2, Heartbeat: 3, Ack: 16 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_HEADER_BYTES = 8;
const SEGMENT_FIXED_BYTES = 4 + 8;
const DATA_FIXED_BYTES = 4 + 8 + 8;
const HEARTBEAT_BYTES = 32;
const ACK_BYTES = 16;
/** The largest frame a reader accepts: one largest record in a DATA frame. */
export const MAX_FRAME_PAYLOAD_BYTES = DATA_FIXED_BYTES + 12 + MAX_PAYLOAD_BYTES;

export type Frame =
  | { type: typeof FrameType.Segment; index: number; capacity: number; header: Buffer }
  | { type: typeof FrameType.Data; index: number; offset: number; lastLsn: number; bytes: Buffer }
  | { type: typeof FrameType.Heartbeat; term: number; lastLsn: number; nowMs: number; inSync: boolean }
  | { type: typeof FrameType.Ack; durableLsn: number; receivedLsn: number };

const EMPTY = Buffer.alloc(0);

export class FrameError extends Error {
  readonly code = 'E_REPLICATION_FRAME';
}

function u64(buf: Buffer, off: number, n: number): void {
  buf.writeBigUInt64LE(BigInt(n), off);
}

function readU64(buf: Buffer, off: number): number {
  const n = buf.readBigUInt64LE(off);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('number beyond 2^53 in a frame');
  return Number(n);
}

function frame(type: FrameType, payloadBytes: number, headBytes = FRAME_HEADER_BYTES + payloadBytes): Buffer {
  const buf = Buffer.alloc(headBytes);
  buf[0] = type;
  buf.writeUInt32LE(payloadBytes, 4);
  return buf;
}

export function encodeSegment(index: number, capacity: number, header: Buffer): Buffer {
  if (header.length !== FILE_HEADER_BYTES) throw new RangeError('a segment header is 32 bytes');
  const buf = frame(FrameType.Segment, SEGMENT_FIXED_BYTES + FILE_HEADER_BYTES);
  buf.writeUInt32LE(index, 8);
  u64(buf, 12, capacity);
  header.copy(buf, 20);
  return buf;
}

/**
 * The head of a DATA frame whose `bytes` bytes follow: the caller writes [head, ...bufs] so the
 * log's own buffers go out without a copy.
 */
export function encodeDataHead(index: number, offset: number, lastLsn: number, bytes: number): Buffer {
  const buf = frame(FrameType.Data, DATA_FIXED_BYTES + bytes, FRAME_HEADER_BYTES + DATA_FIXED_BYTES);
  buf.writeUInt32LE(index, 8);
  u64(buf, 12, offset);
  u64(buf, 20, lastLsn);
  return buf;
}

export function encodeHeartbeat(term: number, lastLsn: number, nowMs: number, inSync: boolean): Buffer {
  const buf = frame(FrameType.Heartbeat, HEARTBEAT_BYTES);
  u64(buf, 8, term);
  u64(buf, 16, lastLsn);
  u64(buf, 24, nowMs);
  u64(buf, 32, inSync ? 1 : 0);
  return buf;
}

export function encodeAck(durableLsn: number, receivedLsn: number): Buffer {
  const buf = frame(FrameType.Ack, ACK_BYTES);
  u64(buf, 8, durableLsn);
  u64(buf, 16, receivedLsn);
  return buf;
}

function decodePayload(type: number, p: Buffer): Frame {
  const need = (n: number, exact: boolean): void => {
    if (exact ? p.length !== n : p.length < n)
      throw new FrameError(`frame type ${type}: bad length ${p.length}`);
  };
  switch (type) {
    case FrameType.Segment:
      need(SEGMENT_FIXED_BYTES + FILE_HEADER_BYTES, true);
      return { type, index: p.readUInt32LE(0), capacity: readU64(p, 4), header: p.subarray(12) };
    case FrameType.Data:
      need(DATA_FIXED_BYTES, false);
      return {
        type,
        index: p.readUInt32LE(0),
        offset: readU64(p, 4),
        lastLsn: readU64(p, 12),
        bytes: p.subarray(DATA_FIXED_BYTES),
      };
    case FrameType.Heartbeat:
      need(HEARTBEAT_BYTES, true);
      return {
        type,
        term: readU64(p, 0),
        lastLsn: readU64(p, 8),
        nowMs: readU64(p, 16),
        inSync: readU64(p, 24) === 1,
      };
    case FrameType.Ack:
      need(ACK_BYTES, true);
      return { type, durableLsn: readU64(p, 0), receivedLsn: readU64(p, 8) };
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
}

/**
 * Reassembles frames from socket chunks. Chunks are kept as they arrive (no concatenation per
 * chunk); a frame's payload is one view when it lies in one chunk, else one copy.
 */
export class FrameReader {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  /** Bytes received and not yet returned in a frame. */
  bufferedBytes = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next complete frame, or undefined until more arrives. Throws FrameError on bad input. */
  next(): Frame | undefined {
    if (this.bufferedBytes < FRAME_HEADER_BYTES) return undefined;
    const header = this.peek(FRAME_HEADER_BYTES);
    const type = header[0] as number;
    const payloadBytes = header.readUInt32LE(4);
    if (header[1] !== 0 || header[2] !== 0 || header[3] !== 0) throw new FrameError('bad frame header');
    if (payloadBytes > MAX_FRAME_PAYLOAD_BYTES) throw new FrameError(`frame of ${payloadBytes} bytes`);
    if (this.bufferedBytes < FRAME_HEADER_BYTES + payloadBytes) return undefined;
    this.skip(FRAME_HEADER_BYTES);
    return decodePayload(type, this.take(payloadBytes));
  }

  /** The first n buffered bytes (n ≤ bufferedBytes) without consuming them. */
  private peek(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0] as Buffer;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let at = this.head;
    for (const chunk of this.chunks) {
      filled += chunk.copy(out, filled, at, Math.min(chunk.length, at + n - filled));
      at = 0;
      if (filled === n) break;
    }
    return out;
  }

  private take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  private skip(n: number): void {
    this.bufferedBytes -= n;
    while (n > 0) {
      const first = this.chunks[0] as Buffer;
      const left = first.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
