/**
 * A TCP relay in Node that copies bytes and does nothing else: the Node floor of a proxy hop (the
 * relay-node target, bench/targets.ts; bench/relay.c is the same in C). Each accepted client gets
 * its own connection to the upstream; every read is forwarded at once with one write.
 *
 *   node dist/bench/relay-server.js --upstream-port P [--upstream-host 127.0.0.1] [--host 127.0.0.1] [--port 0]
 *
 * Reads and writes go the cheapest way Node allows, as stalkd's node and proxy do: `onread` into a
 * buffer reused for every read (the upstream socket is built with the option; the accepted one is
 * given it by readInto), so no Buffer is made per read and no stream events run, and writes straight
 * to the socket's handle (writeDirect), without the stream's per-write state. Each direction has its own
 * buffer, because a write that the kernel does not take at once keeps pointing into it: then the
 * reading side is paused (the callback returns false) until that write is done, so the buffer
 * is not overwritten under the pending write and a slow reader holds its writer back. When either
 * side ends, the other is ended after what is queued to it; an error closes both. Prints
 * "listening PORT".
 */
import net from 'node:net';
import { directWriteAvailable, pendingOutput, writeDirect } from '../src/net/direct-write';
import { readInto } from '../src/net/user-buffer-read';

interface Flags {
  host: string;
  port: number;
  upstreamHost: string;
  upstreamPort: number;
}

/** Larger than any one read the bench's traffic produces (a pipelined batch is < 64 KiB). */
const DIRECTION_BYTES = 128 * 1024;

function parseFlags(argv: string[]): Flags {
  const f: Flags = { host: '127.0.0.1', port: 0, upstreamHost: '127.0.0.1', upstreamPort: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    if (argv[i] === '--host') f.host = v;
    else if (argv[i] === '--port') f.port = Number(v);
    else if (argv[i] === '--upstream-host') f.upstreamHost = v;
    else if (argv[i] === '--upstream-port') f.upstreamPort = Number(v);
    else throw new Error(`relay-server: unknown flag ${argv[i]}`);
  }
  if (!(f.upstreamPort > 0)) throw new Error('relay-server: --upstream-port is required');
  return f;
}

/**
 * Writes each read of `from` to `to` at once, straight to the socket's handle as stalkd's node and
 * proxy write (src/net/direct-write.ts). The read's bytes live in a buffer the next read reuses, so
 * while the write is pending (the kernel left bytes behind) `from` stops reading — the returned
 * callback's false — until it is done: `to` emits 'drain' then. A Node without the direct path
 * writes with `socket.write` and its callback.
 */
function forward(from: net.Socket, to: net.Socket): (bytes: number, buffer: Buffer) => boolean {
  let paused = false;
  const written = (): void => {
    if (!paused || pendingOutput(to) > 0 || from.destroyed) return;
    paused = false;
    from.resume();
  };
  to.on('drain', written);
  return (bytes, buffer) => {
    const chunk = buffer.subarray(0, bytes);
    if (directWriteAvailable) writeDirect(to, chunk);
    else to.write(chunk, written);
    if (pendingOutput(to) === 0) return true;
    paused = true;
    return false;
  };
}

/** Wires `a` and `b` to end and fail together. */
function tie(a: net.Socket, b: net.Socket): void {
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.on('end', () => y.end());
    x.on('error', () => {
      x.destroy();
      y.destroy();
    });
    // Closed without an end first (reset, destroyed): the other side has nothing left to wait for.
    x.on('close', () => {
      if (!y.writableEnded) y.destroy();
    });
  }
}

function serve(f: Flags): void {
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    client.setNoDelay(true);
    // Until the upstream answers, the client is paused and its errors only close it.
    client.on('error', () => client.destroy());
    const upstream = net.connect({
      host: f.upstreamHost,
      port: f.upstreamPort,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(DIRECTION_BYTES),
        callback: (bytes: number, buffer: Buffer) => toClient(bytes, buffer),
      },
    });
    const toClient = forward(upstream, client);
    const toUpstream = forward(client, upstream);
    tie(client, upstream);
    upstream.once('connect', () => {
      // A Node release without readInto's internals: 'data' gives each read its own Buffer, so only
      // the pause on a pending write is needed.
      if (!readInto(client, Buffer.allocUnsafe(DIRECTION_BYTES), toUpstream))
        client.on('data', (chunk: Buffer) => {
          if (!toUpstream(chunk.length, chunk)) client.pause();
        });
      client.resume();
    });
  });
  server.listen(f.port, f.host, () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}

if (require.main === module) serve(parseFlags(process.argv.slice(2)));
