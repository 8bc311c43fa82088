/**
 * Framing of a node's replies. A reply is one CRLF line; `RESERVED <id> <bytes>[ <pri>]`,
 * `FOUND <id> <bytes>` and `OK <bytes>` are followed by `<bytes>` of data and CRLF. The reply
 * itself says whether data follows, so the reader needs no knowledge of the request.
 */

export interface NodeReply {
  /** The reply line without CRLF. */
  line: string;
  /** Data block without its trailing CRLF, for RESERVED/FOUND/OK. */
  data: Buffer | null;
}

/** A node sends no line longer than this (`RESERVED <u64> <u32> <u32>` and error words are short). */
const REPLY_LINE_MAX_BYTES = 1024;

function dataBytesOf(line: string): number {
  let sizeToken: string | undefined;
  if (line.startsWith('RESERVED ') || line.startsWith('FOUND ')) sizeToken = line.split(' ')[2];
  else if (line.startsWith('OK ')) sizeToken = line.slice(3);
  if (sizeToken === undefined || !/^\d+$/.test(sizeToken)) return -1;
  return Number(sizeToken);
}

export class ReplyReader {
  /** Unfinished reply line bytes (short). */
  private partialLine: Buffer | null = null;
  private pendingLine: string | null = null;
  /** Data block being filled (data + CRLF), allocated once per reply. */
  private data: Buffer | null = null;
  private dataFilled = 0;

  constructor(
    private readonly emit: (reply: NodeReply) => void,
    private readonly fail: (reason: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      pos = this.pendingLine !== null ? this.fillData(chunk, pos) : this.readLine(chunk, pos);
      if (pos < 0) return;
    }
  }

  private fillData(chunk: Buffer, pos: number): number {
    const data = this.data as Buffer;
    const take = Math.min(chunk.length - pos, data.length - this.dataFilled);
    chunk.copy(data, this.dataFilled, pos, pos + take);
    this.dataFilled += take;
    if (this.dataFilled === data.length) {
      const line = this.pendingLine as string;
      this.pendingLine = null;
      this.data = null;
      this.emit({ line, data: data.subarray(0, data.length - 2) });
    }
    return pos + take;
  }

  private readLine(chunk: Buffer, pos: number): number {
    let buf = chunk;
    let from = pos;
    if (this.partialLine) {
      buf = Buffer.concat([this.partialLine, chunk.subarray(pos)]);
      from = 0;
    }
    const end = buf.indexOf('\r\n', from);
    if (end < 0) {
      if (buf.length - from > REPLY_LINE_MAX_BYTES) {
        this.fail('reply line too long');
        return -1;
      }
      this.partialLine = Buffer.from(buf.subarray(from));
      return chunk.length;
    }
    const consumedFromChunk = this.partialLine ? end + 2 - this.partialLine.length : end + 2 - pos;
    this.partialLine = null;
    const line = buf.toString('latin1', from, end);
    const bytes = dataBytesOf(line);
    if (bytes < 0) {
      this.emit({ line, data: null });
    } else {
      this.pendingLine = line;
      this.data = Buffer.allocUnsafe(bytes + 2);
      this.dataFilled = 0;
    }
    return pos + consumedFromChunk;
  }
}
