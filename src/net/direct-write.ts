/**
 * Writing a buffer straight to a plain TCP socket's stream handle (issue 18): a turn's replies are
 * one buffer, and `socket.write` spends more on the stream machinery around the write (state,
 * callbacks, a `nextTick` per write to run them) than on the write itself. This issues the same
 * write request Node's `net` would (a `WriteWrap` on the handle's `writeBuffer`), so it still goes
 * through libuv: tried at once, and what the kernel does not take stays queued in libuv, in order,
 * until it is written.
 *
 * Order: libuv writes a handle's requests first come, first served, whoever issued them; this path
 * is taken only while the stream holds nothing of its own (not connecting, not ended,
 * `writableLength` 0: a corked write counts there), so a write the stream has buffered can never be
 * overtaken. A later `socket.write` or `end()` goes to libuv behind what is queued here (a shutdown
 * waits for queued writes).
 *
 * What the stream no longer sees, callers see here: `pendingOutput` is the stream's
 * `writableLength` plus the writes this path left to libuv, each counted whole until it completes
 * as the stream counts its own (output bounds, whether a close may drop nothing), and the socket
 * emits `'drain'` once such writes and any the stream made behind them are written. A failed write
 * destroys the socket with the error, as the stream does.
 *
 * Node keeps `WriteWrap` and the write state in the `stream_wrap` binding, which
 * `process.binding` still offers (DEP0111, documentation-only); where it does not, or for TLS and
 * other wrapped streams, every write takes `socket.write` (test/net/direct-write.test.ts fails on a
 * Node release without it, so an upgrade says so).
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteReq {
  handle: StreamHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Buffer | null;
  socket: Socket;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, buffer: Buffer): number;
}

interface StreamWrap {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** Bytes of the writes this path left to libuv and not yet completed, per socket (absent: none). */
const queued = Symbol('stalkd.directQueued');

interface Tracked {
  [queued]?: number;
}

function loadStreamWrap(): StreamWrap | null {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrap> }).binding(
      'stream_wrap',
    );
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding;
    if (typeof WriteWrap !== 'function' || !streamBaseState || typeof kLastWriteWasAsync !== 'number')
      return null;
    return { WriteWrap, streamBaseState, kLastWriteWasAsync };
  } catch {
    return null;
  }
}

const wrap = loadStreamWrap();

/** Whether this Node offers the direct path (else every write takes `socket.write`). */
export const directWriteAvailable = wrap !== null;

function writeError(status: number): Error {
  const name = getSystemErrorName(status);
  return Object.assign(new Error(`write ${name}`), { code: name, errno: status, syscall: 'write' });
}

function onComplete(this: WriteReq, status: number): void {
  const socket = this.socket;
  const left = ((socket as Tracked)[queued] ?? 0) - (this.buffer?.length ?? 0);
  (socket as Tracked)[queued] = left;
  this.buffer = null;
  if (socket.destroyed) return;
  if (status < 0) {
    socket.destroy(writeError(status));
    return;
  }
  if (left !== 0) return;
  // Everything written here is out. Writes the stream issued since (behind these) may still be in
  // flight: then the stream says 'drain' when they are done, as it would had it made them wait.
  if (socket.writableLength === 0) socket.emit('drain');
  else (socket as unknown as { _writableState: { needDrain: boolean } })._writableState.needDrain = true;
}

interface SocketInternals {
  _handle?: StreamHandle | null;
  connecting: boolean;
  encrypted?: boolean;
}

/** Writes `buffer` to `socket`: straight to its handle where that keeps the order, else `socket.write`. */
export function writeDirect(socket: Socket, buffer: Buffer): void {
  const s = socket as unknown as SocketInternals;
  const handle = s._handle;
  if (
    wrap === null ||
    !handle ||
    s.connecting ||
    s.encrypted === true ||
    socket.writableLength !== 0 ||
    socket.writableEnded ||
    socket.destroyed ||
    typeof handle.writeBuffer !== 'function'
  ) {
    socket.write(buffer);
    return;
  }
  const req = new wrap.WriteWrap();
  req.handle = handle;
  req.oncomplete = onComplete;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.socket = socket;
  const status = handle.writeBuffer(req, buffer);
  if (status !== 0) {
    socket.destroy(writeError(status));
    return;
  }
  if (wrap.streamBaseState[wrap.kLastWriteWasAsync] !== 0) {
    // Not all taken by the kernel: libuv holds the rest until it is written (then onComplete).
    req.async = true;
    req.buffer = buffer;
    (socket as Tracked)[queued] = ((socket as Tracked)[queued] ?? 0) + buffer.length;
  }
}

/** Output not yet handed to the kernel: the stream's and what `writeDirect` left queued in libuv. */
export function pendingOutput(socket: Socket): number {
  return socket.writableLength + ((socket as Tracked)[queued] ?? 0);
}
