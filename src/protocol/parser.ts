/**
 * Resumable request framing over Buffers (beanstalkd's connection states WantCommand, WantData,
 * Discard). Feed chunks with `push`, pull complete requests with `next` — the server stops pulling
 * while a reserve blocks, exactly as beanstalkd stops reading.
 *
 * Limits come from the grammar: a line is at most 224 bytes including CRLF (11 + 201 + 12: room for
 * `pause-tube <200-byte name> 4294967295\r\n`). 224 bytes without a CRLF → the line is discarded up
 * to the next CRLF and answered BAD_FORMAT. A put whose size exceeds the maximum discards exactly
 * bytes + 2 and then answers JOB_TOO_BIG. Results never depend on how input is split into chunks.
 *
 * Line ends are found as beanstalkd's fixed 224-byte command buffer finds them: input is looked at
 * in 224-byte windows (the first starts where the line starts; while discarding a long line they
 * follow one another) and only the FIRST CR of a window counts — followed by LF it ends the line;
 * otherwise the window holds no line end at all. So a line with a stray CR before its CRLF runs on
 * into a discard, a CRLF straddling two windows is missed, and a 225-byte line whose CR is its
 * 224th byte swallows the following command — all as on the real server.
 */
import { decodeLine, type PutHeader, type Request } from './commands';
import { DEFAULT_DIALECT, type Dialect } from './dialect';

export const LINE_MAX_BYTES = 224;

const CR = 13;
const LF = 10;

const State = { WantCommand: 0, WantData: 1, Discard: 2, DiscardLine: 3 } as const;
type State = (typeof State)[keyof typeof State];

/** Where the current discard window's first CR stands. */
const WindowCr = { None: 0, AtEnd: 1, Dead: 2 } as const;
type WindowCr = (typeof WindowCr)[keyof typeof WindowCr];

const JOB_TOO_BIG: Request = { op: 'error', word: 'JOB_TOO_BIG', count: 'put' };
const BAD_LINE: Request = { op: 'error', word: 'BAD_FORMAT', count: null };
const EMPTY = Buffer.alloc(0);

export class RequestParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private state: State = State.WantCommand;
  /** WantData: the body being filled (bytes + 2) and how much of it has arrived. */
  private body: Buffer = EMPTY;
  private bodyFilled = 0;
  private put: PutHeader | null = null;
  /** Discard: bytes still to throw away. */
  private discardLeft = 0;
  /** DiscardLine: bytes already seen in the current 224-byte window, and its first CR so far. */
  private windowFill = 0;
  private windowCr: WindowCr = WindowCr.None;

  /**
   * `extensions`: decode stalkd's x-* node commands (a node); false: UNKNOWN_COMMAND (the proxy).
   * `dialect`: the beanstalkd release whose parsing is reproduced (dialect.ts).
   */
  constructor(
    public maxJobBytes: number,
    private readonly extensions = true,
    private readonly dialect: Dialect = DEFAULT_DIALECT,
  ) {}

  /** Bytes received but not yet consumed by `next` (for backpressure while a reserve blocks). */
  get bufferedBytes(): number {
    return this.buf.length - this.pos;
  }

  /** True from a request's first byte to its end: a partial line, body or discard is pending. */
  get midRequest(): boolean {
    return this.state !== State.WantCommand || this.pos < this.buf.length;
  }

  push(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
  }

  /** Takes every byte not consumed yet (a connection that stops speaking the protocol). */
  /**
   * The input pushed last lives in a buffer that will be reused (a socket reading into one
   * buffer): keep a copy of what is not consumed yet, nothing when all of it is.
   */
  detach(): void {
    if (this.pos >= this.buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
      return;
    }
    this.buf = Buffer.from(this.buf.subarray(this.pos));
    this.pos = 0;
  }

  takeRest(): Buffer {
    const rest = Buffer.from(this.buf.subarray(this.pos));
    this.buf = EMPTY;
    this.pos = 0;
    return rest;
  }

  /** The next complete request, or undefined until more input arrives. */
  next(): Request | undefined {
    for (;;) {
      switch (this.state) {
        case State.WantCommand: {
          const result = this.readLine();
          if (result !== null) return result;
          if (this.state === State.WantCommand) return undefined;
          break;
        }
        case State.WantData:
          return this.readBody();
        case State.Discard:
          if (!this.discard()) return undefined;
          return JOB_TOO_BIG;
        case State.DiscardLine:
          if (!this.discardLine()) return undefined;
          return BAD_LINE;
      }
    }
  }

  /** A request from the next line; null when the line is incomplete or the state changed. */
  private readLine(): Request | undefined | null {
    const buf = this.buf;
    const start = this.pos;
    const available = Math.min(buf.length - start, LINE_MAX_BYTES);
    // Only bytes before the window's last one are searched: the LF must be in the window too.
    const cr = firstCr(buf, start, start + available - 1);
    if (cr >= 0 && buf[cr + 1] === LF) {
      this.pos = cr + 2;
      const result = decodeLine(buf, start, cr, this.extensions, this.dialect);
      if (result.op !== 'put-header') return result;
      return this.startBody(result.header);
    }
    if (available === LINE_MAX_BYTES) {
      this.pos = start + LINE_MAX_BYTES;
      this.state = State.DiscardLine;
      this.windowFill = 0;
      this.windowCr = WindowCr.None;
    }
    return null;
  }

  private startBody(header: PutHeader): Request | null {
    if (header.bodyBytes > this.maxJobBytes) {
      this.state = State.Discard;
      this.discardLeft = header.bodyBytes + 2;
      return null;
    }
    if (header.trailingGarbage) return { op: 'error', word: 'BAD_FORMAT', count: 'put' };
    this.put = header;
    this.body = Buffer.allocUnsafe(header.bodyBytes + 2);
    this.bodyFilled = 0;
    this.state = State.WantData;
    return null;
  }

  private readBody(): Request | undefined {
    const need = this.body.length - this.bodyFilled;
    const take = Math.min(need, this.buf.length - this.pos);
    if (take > 0) {
      this.buf.copy(this.body, this.bodyFilled, this.pos, this.pos + take);
      this.bodyFilled += take;
      this.pos += take;
    }
    if (this.bodyFilled < this.body.length) return undefined;
    const body = this.body;
    const header = this.put as PutHeader;
    this.body = EMPTY;
    this.put = null;
    this.state = State.WantCommand;
    const n = body.length;
    if (header.tube !== undefined)
      return {
        op: 'x-put',
        tube: header.tube,
        pri: header.pri,
        delayMs: header.delayMs,
        ttrMs: header.ttrMs,
        body,
        bodyOk: body[n - 2] === CR && body[n - 1] === LF,
      };
    if (header.origin)
      return {
        op: 'x-import',
        ...header.origin,
        pri: header.pri,
        delayMs: header.delayMs,
        ttrMs: header.ttrMs,
        body,
        bodyOk: body[n - 2] === CR && body[n - 1] === LF,
      };
    return {
      op: 'put',
      pri: header.pri,
      delayMs: header.delayMs,
      ttrMs: header.ttrMs,
      body,
      bodyOk: body[n - 2] === CR && body[n - 1] === LF,
    };
  }

  /** Throws away discardLeft bytes; true when done. */
  private discard(): boolean {
    const take = Math.min(this.discardLeft, this.buf.length - this.pos);
    this.pos += take;
    this.discardLeft -= take;
    if (this.discardLeft > 0) return false;
    this.state = State.WantCommand;
    return true;
  }

  /** Throws away input up to the first window whose first CR is followed by LF; true when found. */
  private discardLine(): boolean {
    const buf = this.buf;
    while (this.pos < buf.length) {
      const start = this.pos;
      const end = start + Math.min(LINE_MAX_BYTES - this.windowFill, buf.length - start);
      if (this.windowCr === WindowCr.AtEnd) {
        if (buf[start] === LF) return this.endDiscardLine(start + 1);
        this.windowCr = WindowCr.Dead;
      }
      if (this.windowCr === WindowCr.None) {
        const cr = firstCr(buf, start, end);
        if (cr >= 0) {
          if (cr === end - 1) this.windowCr = WindowCr.AtEnd;
          else if (buf[cr + 1] === LF) return this.endDiscardLine(cr + 2);
          else this.windowCr = WindowCr.Dead;
        }
      }
      this.windowFill += end - start;
      this.pos = end;
      if (this.windowFill === LINE_MAX_BYTES) {
        this.windowFill = 0;
        this.windowCr = WindowCr.None;
      }
    }
    return false;
  }

  private endDiscardLine(next: number): boolean {
    this.pos = next;
    this.state = State.WantCommand;
    return true;
  }
}

/** Index of the first CR in buf[from, to), or -1. Bounded scan (a window is at most 224 bytes). */
function firstCr(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === CR) return i;
  return -1;
}
