/**
 * A minimal pipelining beanstalkd client for metrics tests, the observability test's load and the
 * scrape benchmark: `send` writes one command and resolves with its reply (first line, plus the
 * body for RESERVED/FOUND/OK). Not a product client — no reconnects, no timeouts.
 */
import { once } from 'node:events';
import net from 'node:net';

export interface Reply {
  line: string;
  body?: Buffer;
}

export class MiniClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<(r: Reply) => void> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.drainReplies();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<MiniClient> {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return new MiniClient(socket);
  }

  /** Sends `line` (and `body` for put) and resolves with the reply. */
  send(line: string, body?: string | Buffer): Promise<Reply> {
    const reply = new Promise<Reply>((resolve) => this.waiting.push(resolve));
    this.socket.write(`${line}\r\n`);
    if (body !== undefined) {
      this.socket.write(body);
      this.socket.write('\r\n');
    }
    return reply;
  }

  put(body: string, pri = 0, delaySecs = 0, ttrSecs = 60): Promise<Reply> {
    return this.send(`put ${pri} ${delaySecs} ${ttrSecs} ${Buffer.byteLength(body)}`, body);
  }

  /** Resolves once every reply so far has arrived. */
  async sync(): Promise<void> {
    await this.send('list-tube-used');
  }

  close(): void {
    this.socket.destroy();
  }

  private drainReplies(): void {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.subarray(0, eol).toString('latin1');
      const m = /^(?:RESERVED \d+|FOUND \d+|OK) (\d+)(?: \d+)*$/.exec(line); // x-reserve-wait adds fields
      let consumed = eol + 2;
      let body: Buffer | undefined;
      if (m) {
        const bytes = Number(m[1]);
        if (this.buf.length < consumed + bytes + 2) return;
        body = Buffer.from(this.buf.subarray(consumed, consumed + bytes));
        consumed += bytes + 2;
      }
      this.buf = this.buf.subarray(consumed);
      const resolve = this.waiting.shift();
      resolve?.(body ? { line, body } : { line });
    }
  }
}
