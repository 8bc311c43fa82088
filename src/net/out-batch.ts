/**
 * Output batching for the proxy's sockets and the node's client connections: everything queued
 * for one socket in one turn of the event loop leaves in one write. Small parts (reply lines,
 * command lines, short bodies) are copied into one buffer — one chunk for the stream to track
 * instead of hundreds in a writev; parts of COPY_MAX_BYTES or more are passed as they are, so
 * 64 KiB bodies are not copied.
 * Command lines given as text (`pushLine`) are joined and encoded once for a run of them, not
 * once each (a proxy pipelining hundreds of reserves and deletes to a node in one turn).
 */
import type { Socket } from 'node:net';
import { writeDirect } from './direct-write';

const COPY_MAX_BYTES = 4096;

export class OutBatch {
  /** The first part pushed: one part a turn (a client with one request in flight) needs no array. */
  private first: Buffer | undefined;
  /** Every part, once there are two or more. */
  private parts: Buffer[] | undefined;
  private bytes = 0;
  /** Lines pushed since the last part, each with its CRLF, not yet encoded (latin1). */
  private lines = '';

  get empty(): boolean {
    return this.first === undefined && this.lines === '';
  }

  /** Bytes pushed and not yet written (they count against a connection's output bound). */
  get pendingBytes(): number {
    return this.bytes + this.lines.length;
  }

  push(part: Buffer): void {
    if (this.lines !== '') this.encodeLines();
    this.add(part);
  }

  /** `line` (latin1 text, no CRLF) and a CRLF. */
  pushLine(line: string): void {
    this.lines += `${line}\r\n`;
  }

  private encodeLines(): void {
    const part = Buffer.from(this.lines, 'latin1');
    this.lines = '';
    this.add(part);
  }

  private add(part: Buffer): void {
    this.bytes += part.length;
    if (this.first === undefined) this.first = part;
    else if (this.parts === undefined) this.parts = [this.first, part];
    else this.parts.push(part);
  }

  /** What was pushed, in order (a batch held back as one reply), and starts a new batch. */
  takeParts(): Buffer[] {
    if (this.lines !== '') this.encodeLines();
    const parts = this.parts ?? (this.first === undefined ? [] : [this.first]);
    this.first = undefined;
    this.parts = undefined;
    this.bytes = 0;
    return parts;
  }

  /** Writes what was pushed (see the header) and starts a new batch. */
  writeTo(socket: Socket): void {
    if (this.lines !== '') this.encodeLines();
    const first = this.first;
    if (first === undefined) return;
    const parts = this.parts;
    const bytes = this.bytes;
    this.first = undefined;
    this.parts = undefined;
    this.bytes = 0;
    if (parts === undefined) {
      writeDirect(socket, first);
      return;
    }
    let large = false;
    for (const part of parts) if (part.length >= COPY_MAX_BYTES) large = true;
    if (!large) {
      writeDirect(socket, Buffer.concat(parts, bytes));
      return;
    }
    socket.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    for (const part of parts) {
      if (part.length < COPY_MAX_BYTES) {
        run.push(part);
        runBytes += part.length;
        continue;
      }
      if (run.length > 0) socket.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
      socket.write(part);
    }
    if (run.length > 0) socket.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
    socket.uncork();
  }
}
