/**
 * Client-side framing for the proxy: turns the bytes a client sends into commands exactly as one
 * beanstalkd would frame them (reference notes §1.1):
 * - a line is at most 224 bytes including CRLF (the longest `pause-tube` line); a longer one is
 *   discarded up to its CRLF and answered BAD_FORMAT (beanstalkd's Discard state);
 * - `put` bodies of `bytes + 2` bytes (WantData) must end in CRLF, else EXPECTED_CRLF;
 * - a put larger than the proxy's max job size swallows exactly `bytes + 2` bytes, then
 *   JOB_TOO_BIG (the bit bucket), so the stream stays in sync.
 *
 * Line grammar (prefix dispatch, argument checks) lives in commands.ts. This file is the seam the
 * lead's src/protocol parser will replace: the session only sees `ReaderEvent`s.
 */
import { type Command, type ParseResult, parseLine } from './commands';

/** 224 = 11 ("pause-tube ") + 200 (tube) + 1 + 10 (u32) + 2 (CRLF). */
export const LINE_MAX_BYTES = 224;
const CR = 13;
const LF = 10;

export const ReaderState = {
  WantCommand: 0,
  WantData: 1,
  Discard: 2,
  BitBucket: 3,
} as const;
type ReaderState = (typeof ReaderState)[keyof typeof ReaderState];

export type ReaderEvent =
  | { kind: 'command'; command: Command }
  /** A reply the proxy gives itself; `countedAs` names the stats counter beanstalkd bumps for it. */
  | {
      kind: 'error';
      reply: 'BAD_FORMAT' | 'UNKNOWN_COMMAND' | 'JOB_TOO_BIG' | 'EXPECTED_CRLF';
      countedAs?: string;
    };

export class CommandReader {
  private state: ReaderState = ReaderState.WantCommand;
  private readonly lineBuf = Buffer.allocUnsafe(LINE_MAX_BYTES);
  /** Bytes of an unfinished line held in lineBuf. */
  private lineBytes = 0;
  /** Discard state: the previous chunk ended in CR. */
  private discardSawCR = false;
  /** WantData / BitBucket: bytes still expected. */
  private remainingBytes = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private putCommand: Command | null = null;

  constructor(
    private readonly maxJobBytes: number,
    private readonly emit: (event: ReaderEvent) => void,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.state) {
        case ReaderState.WantCommand:
          pos = this.readLine(chunk, pos);
          break;
        case ReaderState.WantData:
          pos = this.readBody(chunk, pos);
          break;
        case ReaderState.Discard:
          pos = this.discardLine(chunk, pos);
          break;
        default:
          pos = this.skipBytes(chunk, pos);
      }
    }
  }

  private readLine(chunk: Buffer, pos: number): number {
    if (this.lineBytes > 0 && this.lineBuf[this.lineBytes - 1] === CR && chunk[pos] === LF) {
      const line = this.lineBuf.subarray(0, this.lineBytes - 1);
      this.lineBytes = 0;
      this.handleLine(line);
      return pos + 1;
    }
    const room = LINE_MAX_BYTES - this.lineBytes;
    const end = chunk.indexOf('\r\n', pos);
    if (end >= 0 && end - pos + 2 <= room) {
      let line: Buffer;
      if (this.lineBytes === 0) {
        line = chunk.subarray(pos, end);
      } else {
        chunk.copy(this.lineBuf, this.lineBytes, pos, end);
        line = this.lineBuf.subarray(0, this.lineBytes + end - pos);
        this.lineBytes = 0;
      }
      this.handleLine(line);
      return end + 2;
    }
    const take = Math.min(room, chunk.length - pos);
    chunk.copy(this.lineBuf, this.lineBytes, pos, pos + take);
    this.lineBytes += take;
    if (this.lineBytes === LINE_MAX_BYTES) {
      this.discardSawCR = this.lineBuf[LINE_MAX_BYTES - 1] === CR;
      this.lineBytes = 0;
      this.state = ReaderState.Discard;
    }
    return pos + take;
  }

  private discardLine(chunk: Buffer, pos: number): number {
    if (this.discardSawCR && chunk[pos] === LF) return this.endDiscard(pos + 1);
    const end = chunk.indexOf('\r\n', pos);
    if (end >= 0) return this.endDiscard(end + 2);
    this.discardSawCR = chunk[chunk.length - 1] === CR;
    return chunk.length;
  }

  private endDiscard(next: number): number {
    this.state = ReaderState.WantCommand;
    this.discardSawCR = false;
    this.emit({ kind: 'error', reply: 'BAD_FORMAT' });
    return next;
  }

  private handleLine(line: Buffer): void {
    const result: ParseResult = parseLine(line);
    if (result.kind === 'error') {
      this.emit(result);
      return;
    }
    const command = result.command;
    if (command.verb !== 'put') {
      this.emit({ kind: 'command', command });
      return;
    }
    const bytes = command.nums[3] ?? 0;
    if (bytes > this.maxJobBytes) {
      this.remainingBytes = bytes + 2;
      this.state = ReaderState.BitBucket;
      return;
    }
    if (command.trailingJunk) {
      this.emit({ kind: 'error', reply: 'BAD_FORMAT', countedAs: 'cmd-put' });
      return;
    }
    this.putCommand = command;
    this.remainingBytes = bytes + 2;
    this.body = null;
    this.bodyFilled = 0;
    this.state = ReaderState.WantData;
  }

  private readBody(chunk: Buffer, pos: number): number {
    const available = chunk.length - pos;
    if (this.body === null && available >= this.remainingBytes) {
      // Whole body in this chunk: copy it out (a subarray would pin the whole chunk while queued).
      const end = pos + this.remainingBytes;
      this.finishBody(Buffer.from(chunk.subarray(pos, end)));
      return end;
    }
    if (this.body === null) this.body = Buffer.allocUnsafe(this.remainingBytes);
    const take = Math.min(available, this.body.length - this.bodyFilled);
    chunk.copy(this.body, this.bodyFilled, pos, pos + take);
    this.bodyFilled += take;
    if (this.bodyFilled === this.body.length) this.finishBody(this.body);
    return pos + take;
  }

  private finishBody(body: Buffer): void {
    const command = this.putCommand;
    this.putCommand = null;
    this.body = null;
    this.state = ReaderState.WantCommand;
    if (!command) return;
    if (body[body.length - 2] !== CR || body[body.length - 1] !== LF) {
      this.emit({ kind: 'error', reply: 'EXPECTED_CRLF', countedAs: 'cmd-put' });
      return;
    }
    command.body = body;
    this.emit({ kind: 'command', command });
  }

  private skipBytes(chunk: Buffer, pos: number): number {
    const take = Math.min(chunk.length - pos, this.remainingBytes);
    this.remainingBytes -= take;
    if (this.remainingBytes === 0) {
      this.state = ReaderState.WantCommand;
      this.emit({ kind: 'error', reply: 'JOB_TOO_BIG', countedAs: 'cmd-put' });
    }
    return pos + take;
  }
}
