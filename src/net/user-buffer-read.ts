/**
 * Reading an accepted socket into one reused buffer: `net`'s `onread` option, which Node offers
 * only to sockets it is asked to build (`net.connect`, `new net.Socket`), not to those a server
 * accepts. Measured on the bench (bench/README.md, issue 18): the default read path allocates a
 * Buffer per read and runs it through the stream machinery (`push`, `'data'`); reading into a
 * buffer the caller reuses saves about a microsecond of CPU per read and the GC work of those
 * buffers. The callback gets (bytes, buffer); the bytes are valid only until it returns, so
 * whatever outlives it must be copied.
 *
 * How: the socket is still paused (the listener accepts with `pauseOnConnect`), so before its first
 * read it is given what the `onread` option would have given it — its stream handle reads into the
 * buffer (`useUserBuffer`) and the socket's read callback is ours. Node keeps that state under
 * symbols; they are looked up once, by name, from a socket built with the option. Where a Node
 * release lacks any of it, `readInto` returns false and the caller reads with `'data'` instead
 * (test/net/user-buffer-read.test.ts fails on such a release, so an upgrade says so).
 */
import net from 'node:net';

interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let symbols: OnreadSymbols | null | undefined;

function onreadSymbols(): OnreadSymbols | null {
  if (symbols !== undefined) return symbols;
  // @types/node declares `onread` on connect options only; the constructor takes it too.
  const options = { onread: { buffer: Buffer.alloc(1), callback: () => true } };
  const probe = new net.Socket(options as net.SocketConstructorOpts);
  const named = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const buffer = named.get('kBuffer');
  const callback = named.get('kBufferCb');
  const generator = named.get('kBufferGen');
  symbols = buffer && callback && generator ? { buffer, callback, generator } : null;
  return symbols;
}

interface StreamHandle {
  reading?: boolean;
  useUserBuffer?: (buffer: Uint8Array) => void;
}

/**
 * From its first read on, `socket` (accepted, not yet reading) hands its input to `onRead` in
 * `buffer` instead of emitting `'data'`. False when this Node cannot (nothing was changed).
 */
export function readInto(
  socket: net.Socket,
  buffer: Buffer,
  onRead: (bytes: number, buffer: Buffer) => void,
): boolean {
  const k = onreadSymbols();
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
  if (!k || !handle || typeof handle.useUserBuffer !== 'function' || handle.reading) return false;
  const state = socket as unknown as Record<symbol, unknown>;
  state[k.buffer] = buffer;
  state[k.callback] = onRead;
  state[k.generator] = null;
  handle.useUserBuffer(buffer);
  return true;
}
