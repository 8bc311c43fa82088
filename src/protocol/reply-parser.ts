/**
 * Resumable parser for beanstalkd replies (the client's, and the proxy's from its nodes): a header line ending in CRLF, and for `RESERVED <id>
 * <bytes>`, `FOUND <id> <bytes>` and `OK <bytes>` a body of exactly <bytes> bytes followed by CRLF.
 * Bodies may hold any byte, CRLF included; chunks may split a reply anywhere.
 *
 * State is two fields: a partial header (at most MAX_REPLY_LINE_BYTES, kept in a fixed buffer)
 * or a partial body (one buffer of bytes + 2, filled as pieces arrive). Replies are delivered in
 * order through `onReply`, synchronously from `push`.
 */

import { MAX_JOB_BYTES_LIMIT } from './numbers';

/**
 * The longest well-formed reply line is `USING <name>` with a 200-byte name: 6 + 200 + CRLF = 208
 * bytes (`RESERVED <u64> <u32>` is 9 + 20 + 1 + 10 + 2 = 42). We accept up to 1 KiB so a server
 * with slightly longer error lines still parses, while a garbage stream cannot grow memory.
 */
export const MAX_REPLY_LINE_BYTES = 1024;

/** Bodies are bounded by the server's max job size, itself clamped to 1 GiB by beanstalkd. */
export const MAX_REPLY_BODY_BYTES = MAX_JOB_BYTES_LIMIT;

export interface Reply {
  /** First token of the header line (`INSERTED`, `RESERVED`, `OK`, …). */
  readonly word: string;
  /** The header line without its CRLF, decoded as latin1 (replies are ASCII). */
  readonly line: string;
  /** Body without its trailing CRLF, for RESERVED/FOUND/OK; an own copy (pins no socket chunk). */
  readonly body: Buffer | undefined;
}

/** The byte stream is not a beanstalkd reply stream; the connection cannot be resynchronised. */
export class ReplyFormatError extends Error {
  override readonly name = 'ReplyFormatError';
}

/** A stalkd node's answer to x-hello, `OK stalkd <version> <feature>…`: an OK line with no body. */
export const HELLO_PREFIX = 'OK stalkd ';
/** A stalkd node's answer to x-auth (and an OK word alone anywhere): no body either. */
const BARE_OK = 'OK';

/** What a node says it takes beyond the first extensions, after its version in x-hello's reply. */
export const HelloFeature = {
  /** `x-put <tube> …`: a put into a named tube, the connection's `use` untouched. */
  PutInto: 'x-put',
} as const;

/** The features this build's nodes name in x-hello's reply. */
export const HELLO_FEATURES = Object.values(HelloFeature).join(' ');

/** True when x-hello's reply `line` names `feature` (older nodes name none). */
export function helloHas(line: string, feature: string): boolean {
  if (!line.startsWith(HELLO_PREFIX)) return false;
  return line.slice(HELLO_PREFIX.length).split(' ').slice(1).includes(feature);
}

const CR = 13;
const LF = 10;

export class ReplyParser {
  private readonly onReply: (reply: Reply) => void;
  /** Partial header line while waiting for its LF; `lineBytes` of it are valid. */
  private readonly lineBuf = Buffer.allocUnsafe(MAX_REPLY_LINE_BYTES);
  private lineBytes = 0;
  /** Header of the reply whose body is being read; undefined while reading a header. */
  private bodyHeader: { word: string; line: string } | undefined;
  /** Body bytes + 2 (CRLF) being filled; `bodyFilled` bytes are valid. */
  private bodyBuf: Buffer | undefined;
  private bodyWanted = 0;
  private bodyFilled = 0;

  constructor(onReply: (reply: Reply) => void) {
    this.onReply = onReply;
  }

  /** Consumes one chunk; throws ReplyFormatError on malformed input (the parser is then unusable). */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      offset = this.bodyHeader === undefined ? this.readHeader(chunk, offset) : this.readBody(chunk, offset);
    }
  }

  /** True when no partial reply is buffered. */
  get idle(): boolean {
    return this.lineBytes === 0 && this.bodyHeader === undefined;
  }

  private readHeader(chunk: Buffer, offset: number): number {
    const lf = chunk.indexOf(LF, offset);
    if (lf < 0) {
      const piece = chunk.length - offset;
      if (this.lineBytes + piece > MAX_REPLY_LINE_BYTES) throw new ReplyFormatError('reply line too long');
      chunk.copy(this.lineBuf, this.lineBytes, offset);
      this.lineBytes += piece;
      return chunk.length;
    }
    let line: Buffer;
    const piece = lf + 1 - offset;
    if (this.lineBytes + piece > MAX_REPLY_LINE_BYTES) throw new ReplyFormatError('reply line too long');
    if (this.lineBytes === 0) {
      line = chunk.subarray(offset, lf + 1);
    } else {
      chunk.copy(this.lineBuf, this.lineBytes, offset, lf + 1);
      line = this.lineBuf.subarray(0, this.lineBytes + piece);
      this.lineBytes = 0;
    }
    if (line.length < 2 || line[line.length - 2] !== CR)
      throw new ReplyFormatError('reply line not ended by CRLF');
    this.startReply(line.toString('latin1', 0, line.length - 2));
    return lf + 1;
  }

  private startReply(line: string): void {
    const space = line.indexOf(' ');
    const word = space < 0 ? line : line.slice(0, space);
    if (
      (word !== 'RESERVED' && word !== 'FOUND' && word !== 'OK') ||
      line === BARE_OK ||
      line.startsWith(HELLO_PREFIX)
    ) {
      this.onReply({ word, line, body: undefined });
      return;
    }
    // `OK <bytes>`, `RESERVED <id> <bytes>`, `FOUND <id> <bytes>`; a stalkd node's answer to
    // x-reserve-wait adds the job's priority and maybe its creation time:
    // `RESERVED <id> <bytes> <pri>[ <createdUs>]`. Read in place (every job a proxy hands over
    // passes here): no split, no regular expression.
    const fields = spaceCount(line) + 1;
    const expected = word === 'OK' ? 2 : 3;
    const extended = word === 'RESERVED' && (fields === 4 || fields === 5);
    if (fields !== expected && !extended) throw new ReplyFormatError(`malformed reply "${line}"`);
    const from = expected === 2 ? space + 1 : line.indexOf(' ', space + 1) + 1;
    const to = line.indexOf(' ', from);
    const bytes = digitsValue(line, from, to < 0 ? line.length : to, 10);
    if (bytes < 0) throw new ReplyFormatError(`bad body length in "${line}"`);
    if (bytes > MAX_REPLY_BODY_BYTES) throw new ReplyFormatError(`body too large in "${line}"`);
    this.bodyHeader = { word, line };
    this.bodyWanted = bytes + 2;
    this.bodyFilled = 0;
    this.bodyBuf = undefined;
  }

  private readBody(chunk: Buffer, offset: number): number {
    const available = chunk.length - offset;
    const wanted = this.bodyWanted;
    if (this.bodyFilled === 0 && available >= wanted) {
      // Whole body in this chunk: one copy of exactly the body, nothing pinned.
      if (chunk[offset + wanted - 2] !== CR || chunk[offset + wanted - 1] !== LF) {
        throw new ReplyFormatError('reply body not followed by CRLF');
      }
      const body = Buffer.allocUnsafe(wanted - 2);
      chunk.copy(body, 0, offset, offset + wanted - 2);
      this.finishBody(body);
      return offset + wanted;
    }
    if (this.bodyBuf === undefined) this.bodyBuf = Buffer.allocUnsafe(wanted);
    const take = Math.min(available, wanted - this.bodyFilled);
    chunk.copy(this.bodyBuf, this.bodyFilled, offset, offset + take);
    this.bodyFilled += take;
    if (this.bodyFilled === wanted) {
      const buf = this.bodyBuf;
      if (buf[wanted - 2] !== CR || buf[wanted - 1] !== LF)
        throw new ReplyFormatError('reply body not followed by CRLF');
      this.finishBody(buf.subarray(0, wanted - 2));
    }
    return offset + take;
  }

  private finishBody(body: Buffer): void {
    const header = this.bodyHeader;
    this.bodyHeader = undefined;
    this.bodyBuf = undefined;
    this.bodyWanted = 0;
    this.bodyFilled = 0;
    if (header === undefined) throw new ReplyFormatError('internal: body without header');
    this.onReply({ word: header.word, line: header.line, body });
  }
}

function spaceCount(line: string): number {
  let n = 0;
  for (let i = 0; i < line.length; i++) if (line.charCodeAt(i) === 32) n++;
  return n;
}

/**
 * The value of line[from, to) when it is 1 to `maxDigits` decimal digits, else -1 — read in place
 * (no slice or Number() per reply). Without a limit a number too large comes out unsafe (the
 * proxy's encodeJobId refuses it).
 */
export function digitsValue(
  line: string,
  from: number,
  to: number,
  maxDigits = Number.POSITIVE_INFINITY,
): number {
  if (to <= from || to - from > maxDigits) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = line.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
