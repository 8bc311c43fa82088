/**
 * The Node floor with the cheapest I/O Node offers (issue 18): a do-nothing beanstalkd-shaped
 * server that reads with `net`'s `onread` option into one reused buffer (no Buffer per read, no
 * stream push/'data'), and writes each connection's replies of a loop turn in one write from a
 * check-phase flush (setImmediate), so a turn's many reads cost one write each connection.
 * Answers like loadgen-node's server: INSERTED 1, RESERVED 1 <body>, DELETED, USING t, WATCHING 1.
 *
 *   node dist/bench/floor-server.js [--port 0] [--host 127.0.0.1] [--body 100] [--read onread|data]
 *
 * `--read data` reads the default way ('data' events, a Buffer per read) with the same per-turn
 * writes: the difference between the two is what `onread` alone saves.
 *
 * Prints "listening PORT". Server-accepted sockets take no `onread` option, so each accepted handle
 * (paused on connect) is rewrapped in a `net.Socket` built with it: the one use of a private field
 * (`_handle`), confined to acceptWithOnread.
 */
import net from 'node:net';

interface Flags {
  host: string;
  port: number;
  body: number;
  read: 'onread' | 'data';
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { host: '127.0.0.1', port: 0, body: 100, read: 'onread' };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    if (argv[i] === '--host') f.host = v;
    else if (argv[i] === '--port') f.port = Number(v);
    else if (argv[i] === '--body') f.body = Number(v);
    else if (argv[i] === '--read' && (v === 'onread' || v === 'data')) f.read = v;
    else throw new Error(`floor-server: unknown flag ${argv[i]}`);
  }
  return f;
}

/** Rewraps an accepted (paused) socket's handle in a Socket that reads into `buffer`. */
export function acceptWithOnread(
  raw: net.Socket,
  buffer: Buffer,
  callback: (bytes: number, buf: Buffer) => void,
): net.Socket {
  const holder = raw as unknown as { _handle: unknown };
  const handle = holder._handle;
  holder._handle = null;
  raw.destroy();
  const options = { handle, onread: { buffer, callback }, readable: true, writable: true };
  return new net.Socket(options as net.SocketConstructorOpts);
}

function serve(f: Flags): void {
  const filler = Buffer.alloc(f.body);
  for (let i = 0; i < f.body; i++)
    filler[i] = i < 10 && f.body >= 10 ? 48 : 97 + ((i - (f.body >= 10 ? 10 : 0)) % 26);
  const reserved = Buffer.concat([Buffer.from(`RESERVED 1 ${f.body}\r\n`), filler, Buffer.from('\r\n')]);
  const inserted = Buffer.from('INSERTED 1\r\n');
  const deleted = Buffer.from('DELETED\r\n');
  const watching = Buffer.from('WATCHING 1\r\n');
  // One read buffer for every connection: a callback consumes it before the next read lands.
  const readBuffer = Buffer.allocUnsafe(64 * 1024);
  const dirty: Conn[] = [];
  let flushQueued = false;
  const flush = (): void => {
    flushQueued = false;
    for (const c of dirty) c.flush();
    dirty.length = 0;
  };

  class Conn {
    socket!: net.Socket;
    /** Bytes of a line split across reads (rare: lines are short). */
    partial: Buffer | null = null;
    skip = 0;
    out: Buffer[] = [];
    queue(reply: Buffer): void {
      if (this.out.length === 0) {
        dirty.push(this);
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(flush);
        }
      }
      this.out.push(reply);
    }
    flush(): void {
      const out = this.out;
      if (out.length === 1) this.socket.write(out[0] as Buffer);
      else this.socket.write(Buffer.concat(out));
      this.out = [];
    }
    onRead(bytes: number, chunk: Buffer): void {
      let buf = chunk.subarray(0, bytes);
      if (this.partial) {
        buf = Buffer.concat([this.partial, buf]);
        this.partial = null;
      }
      let off = 0;
      for (;;) {
        if (this.skip) {
          const take = Math.min(this.skip, buf.length - off);
          off += take;
          this.skip -= take;
          if (this.skip) break;
        }
        const cr = buf.indexOf(10, off) - 1;
        if (cr < 0) break;
        const c = buf[off];
        if (c === 0x70) {
          this.skip = parseTail(buf, cr) + 2;
          this.queue(inserted);
        } else if (c === 0x72) this.queue(reserved);
        else if (c === 0x64) this.queue(deleted);
        else if (c === 0x75) this.queue(Buffer.from(`USING ${buf.toString('latin1', off + 4, cr)}\r\n`));
        else this.queue(watching);
        off = cr + 2;
      }
      if (off < buf.length) this.partial = Buffer.from(buf.subarray(off));
    }
  }

  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (raw) => {
    const conn = new Conn();
    if (f.read === 'onread') {
      conn.socket = acceptWithOnread(raw, readBuffer, (bytes, buf) => conn.onRead(bytes, buf));
    } else {
      conn.socket = raw;
      raw.on('data', (chunk: Buffer) => conn.onRead(chunk.length, chunk));
      raw.resume();
    }
    conn.socket.setNoDelay(true);
    conn.socket.on('error', () => conn.socket.destroy());
  });
  server.listen(f.port, f.host, () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

/** The number after the line's last space (a put's byte count), digits read in place. */
function parseTail(buf: Buffer, cr: number): number {
  let i = cr - 1;
  while (i >= 0 && buf[i] !== 0x20) i--;
  let n = 0;
  for (let j = i + 1; j < cr; j++) n = n * 10 + ((buf[j] as number) - 48);
  return n;
}

if (require.main === module) serve(parseFlags(process.argv.slice(2)));
