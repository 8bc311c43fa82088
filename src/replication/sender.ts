/**
 * The primary's side of one standby connection (docs/replication.md, "What is sent").
 *
 * Two modes. **File**: the sender reads the segment files from its position (catch-up, full copy)
 * in record-aligned chunks, one at a time, each sent once the socket has room; the segment being
 * read is pinned against deletion. **Live**: once its position reaches what the log has written,
 * every write the log makes is forwarded at once from the log's own buffers (one DATA frame per
 * write). A live sender whose socket backs up, or whose standby has too much unacknowledged, goes
 * back to file mode at its position — the bytes it skipped are in the file — so memory per standby
 * stays bounded by the socket's high-water mark plus one chunk.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { FILE_HEADER_BYTES } from '../binlog/format';
import { encodeDataHead, encodeHeartbeat, encodeSegment, type Frame, FrameReader, FrameType } from './frames';
import { readChunk } from './segment-reader';
import type { SourceLog, SourceSegment, WrittenSpan } from './source-log';

/** Reading pauses while the socket holds this much unsent. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
/** Sending pauses while the standby has this much unacknowledged (it reads but does not keep up). */
const MAX_UNACKED_BYTES = 64 * 1024 * 1024;

export const SenderMode = { File: 'file', Live: 'live', Closed: 'closed' } as const;
export type SenderMode = (typeof SenderMode)[keyof typeof SenderMode];

interface InflightFrame {
  lastLsn: number;
  index: number;
  end: number;
  bytes: number;
  sentAtMs: number;
}

export interface SenderEvents {
  onAck(sender: StandbySender): void;
  onClose(sender: StandbySender, reason: string): void;
}

export class StandbySender {
  mode: SenderMode = SenderMode.File;
  /** Next byte to send: segment index and offset (0 = its SEGMENT frame first). */
  index: number;
  offset: number;
  ackedLsn: number;
  receivedLsn = 0;
  /** LSN the log had appended when this standby joined the live stream (Infinity before). */
  liveFromLsn = Number.POSITIVE_INFINITY;
  /** Where the acknowledged LSN ends: for the lag in bytes. */
  ackedIndex: number;
  ackedEnd: number;
  lastSendAtMs = 0;
  lastHeardAtMs: number;
  private readonly inflight: InflightFrame[] = [];
  private inflightBytes = 0;
  private reading = false;
  private pinned: SourceSegment | undefined;
  private file: FileHandle | undefined;
  private readonly reader = new FrameReader();

  constructor(
    private readonly socket: Socket,
    private readonly log: SourceLog,
    readonly member: string,
    /** host:port the standby listens on, as far as the primary can tell. */
    readonly address: string,
    start: { index: number; offset: number; lastLsn: number },
    private readonly events: SenderEvents,
    private readonly nowMs: () => number,
  ) {
    this.index = start.index;
    this.offset = start.offset;
    this.ackedLsn = start.lastLsn;
    this.ackedIndex = start.index;
    this.ackedEnd = start.offset;
    this.lastHeardAtMs = nowMs();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.resume());
    socket.on('error', () => this.close('connection error'));
    socket.on('close', () => this.close('connection closed'));
  }

  /** Starts sending; `leftover` is what the standby sent after its handshake line. */
  start(leftover: Buffer): void {
    this.toFileMode();
    if (leftover.length > 0) this.onData(leftover);
    void this.pump();
  }

  /** Records the standby still has to acknowledge. */
  lagRecords(): number {
    return Math.max(0, this.log.lastLsn() - this.ackedLsn);
  }

  /** How long the oldest unacknowledged frame has waited, ms (0 when nothing waits). */
  lagMs(now: number): number {
    const oldest = this.inflight[0];
    if (oldest !== undefined) return now - oldest.sentAtMs;
    return this.mode === SenderMode.Live || this.lagRecords() === 0 ? 0 : now - this.lastHeardAtMs;
  }

  /** Bytes of log between what the standby acknowledged and the end of the log. */
  lagBytes(): number {
    let bytes = 0;
    for (const s of this.log.segments()) {
      if (s.index < this.ackedIndex) continue;
      bytes += s.used - (s.index === this.ackedIndex ? Math.min(this.ackedEnd, s.used) : 0);
    }
    return bytes;
  }

  /** Live writes of the log (ignored unless live). */
  onWritten(spans: readonly WrittenSpan[], lastLsn: number): void {
    if (this.mode === SenderMode.File && !this.reading) void this.pump();
    if (this.mode !== SenderMode.Live) return;
    if (this.congested()) {
      this.toFileMode();
      return;
    }
    this.socket.cork();
    try {
      for (const span of spans) {
        if (span.index !== this.index) this.sendSegmentHead(span.index);
        if (span.position !== this.offset) {
          // Not contiguous with what was sent (cannot happen with one writer): the file decides.
          this.toFileMode();
          void this.pump();
          return;
        }
        let bytes = 0;
        for (const b of span.bufs) bytes += b.length;
        this.socket.write(encodeDataHead(span.index, span.position, lastLsn, bytes));
        for (const b of span.bufs) this.socket.write(b);
        this.sent(lastLsn, span.index, span.end, bytes);
      }
    } finally {
      this.socket.uncork();
    }
  }

  /** What the standby was last told about its being in sync. */
  toldInSync = false;

  heartbeat(term: number, now: number, inSync: boolean): void {
    if (this.mode === SenderMode.Closed) return;
    this.socket.write(encodeHeartbeat(term, this.log.lastLsn(), now, inSync));
    this.lastSendAtMs = now;
    this.toldInSync = inSync;
  }

  close(reason: string): void {
    if (this.mode === SenderMode.Closed) return;
    this.mode = SenderMode.Closed;
    this.socket.destroy();
    this.unpin();
    this.events.onClose(this, reason);
  }

  /** Back to reading the file from the current position (pinned at once). */
  private toFileMode(): void {
    this.mode = SenderMode.File;
    const segment = this.log.segments().find((s) => s.index === this.index);
    if (segment !== undefined) this.pin(segment);
  }

  private congested(): boolean {
    return this.socket.writableLength > HIGH_WATER_BYTES || this.inflightBytes > MAX_UNACKED_BYTES;
  }

  private resume(): void {
    if (this.mode === SenderMode.File && !this.reading) void this.pump();
  }

  private sendSegmentHead(index: number): void {
    const segment = this.log.segments().find((s) => s.index === index);
    if (segment === undefined) throw new Error(`segment ${index} is gone`);
    this.socket.write(encodeSegment(index, segment.capacity, this.log.segmentHeader(index)));
    this.index = index;
    this.offset = FILE_HEADER_BYTES;
  }

  private sent(lastLsn: number, index: number, end: number, bytes: number): void {
    this.offset = end;
    this.lastSendAtMs = this.nowMs();
    this.inflight.push({ lastLsn, index, end, bytes, sentAtMs: this.lastSendAtMs });
    this.inflightBytes += bytes;
  }

  /** File mode: reads and sends until caught up (then live), congested, or closed. */
  private async pump(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      while (this.mode === SenderMode.File && !this.congested()) {
        if (!(await this.step())) break;
      }
    } catch (err) {
      this.close(`reading the log failed: ${(err as Error).message}`);
    } finally {
      this.reading = false;
    }
  }

  /** One chunk, or one move to the next segment; false when there is nothing to do now. */
  private async step(): Promise<boolean> {
    const segments = this.log.segments();
    const segment = segments.find((s) => s.index >= this.index);
    if (segment === undefined || (segment.index !== this.index && this.offset !== 0))
      throw new Error(`segment ${this.index} was deleted before it was sent`);
    if (this.pinned !== segment) this.pin(segment);
    if (this.offset === 0) {
      this.sendSegmentHead(segment.index);
      return true;
    }
    if (this.offset < segment.flushed) {
      this.file ??= await open(segment.path, 'r');
      const chunk = await readChunk(this.file, this.offset, segment.flushed);
      if (this.mode !== SenderMode.File) return false;
      const head = encodeDataHead(segment.index, this.offset, chunk.lastLsn, chunk.bytes.length);
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(chunk.bytes);
      this.socket.uncork();
      this.sent(chunk.lastLsn, segment.index, chunk.end, chunk.bytes.length);
      return true;
    }
    if (segment.sealed) {
      if (this.offset < segment.used) return false; // its last records are not written yet
      const next = segments.find((s) => s.index > segment.index);
      if (next === undefined) return false;
      this.index = next.index;
      this.offset = 0;
      return true;
    }
    // Caught up with the segment being written: from now on every write is forwarded.
    this.mode = SenderMode.Live;
    this.liveFromLsn = this.log.lastLsn();
    this.unpin();
    return false;
  }

  /** Keeps `segment` (and so every newer one) from being deleted while this sender reads it. */
  private pin(segment: SourceSegment): void {
    segment.readers++;
    this.unpin();
    this.pinned = segment;
  }

  private unpin(): void {
    if (this.pinned !== undefined) this.pinned.readers--;
    this.pinned = undefined;
    const file = this.file;
    this.file = undefined;
    void file?.close().catch(() => {});
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    let frame: Frame | undefined;
    try {
      frame = this.reader.next();
      for (; frame !== undefined; frame = this.reader.next()) this.onFrame(frame);
    } catch (err) {
      this.close(`bad frame from the standby: ${(err as Error).message}`);
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.type !== FrameType.Ack) throw new Error(`unexpected frame type ${frame.type}`);
    this.lastHeardAtMs = this.nowMs();
    this.receivedLsn = Math.max(this.receivedLsn, frame.receivedLsn);
    if (frame.durableLsn <= this.ackedLsn) return;
    this.ackedLsn = frame.durableLsn;
    while (this.inflight.length > 0 && (this.inflight[0] as InflightFrame).lastLsn <= frame.durableLsn) {
      const f = this.inflight.shift() as InflightFrame;
      this.inflightBytes -= f.bytes;
      this.ackedIndex = f.index;
      this.ackedEnd = f.end;
    }
    this.events.onAck(this);
    this.resume();
  }
}
