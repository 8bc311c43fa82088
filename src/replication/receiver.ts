/**
 * The standby's side of the stream (docs/replication.md, "The standby"): frames from the primary
 * go into the log (byte-identical segments, the log's own group commit and -f/-F mode) and each
 * intact record into the engine; one ACK goes back per advance of the durable LSN (coalesced to
 * one per event-loop turn), plus one a second so the primary knows the standby is alive.
 */
import type { Socket } from 'node:net';
import type { LogRecord } from '../binlog/format';
import { encodeAck, type Frame, FrameReader, FrameType } from './frames';

const KEEPALIVE_MS = 1000;
/** No frame from the primary for this long (it heartbeats every 500 ms): the stream is dead. */
export const PRIMARY_SILENCE_MS = 3000;

/** What the receiver needs of the standby's log (src/binlog's follower mode implements it). */
export interface FollowerLog {
  /** Where the log ends (segment, offset) and its last record. */
  position(): { index: number; offset: number; lastTerm: number; lastLsn: number };
  /** The primary started segment `index`: seal ours, open the same one. */
  startSegment(index: number, capacity: number, header: Buffer): void;
  /**
   * Appends the primary's bytes at (index, offset) — the caller checked they continue the log —
   * calling onRecord for every intact record; returns warnings for damaged regions skipped.
   */
  append(
    index: number,
    offset: number,
    bytes: Buffer,
    onRecord: (record: LogRecord, buf: Buffer) => void,
  ): string[];
  /** Hands appended bytes to the OS now. */
  flush(): void;
  durableSeq(): number;
  onDurable(listener: (seq: number) => void): () => void;
}

export interface ReceiverEvents {
  /** An intact record to apply to the engine (its body, for a put, is in buf). */
  onRecord(record: LogRecord, buf: Buffer): void;
  onHeartbeat(term: number, inSync: boolean): void;
  onWarning(line: string): void;
  onClose(reason: string): void;
}

export class Receiver {
  /** The primary's last LSN as last heard (heartbeats, DATA frames). */
  primaryLastLsn = 0;
  /** When this standby last had everything the primary had told it of. */
  caughtUpAtMs: number;
  private readonly reader = new FrameReader();
  /** DATA frames received, not yet durable here: their last LSN and size (for the lag in bytes). */
  private readonly pending: { lastLsn: number; bytes: number }[] = [];
  private pendingBytes = 0;
  private ackScheduled = false;
  private lastAckAtMs = 0;
  /** When the last frame (data or heartbeat) arrived. */
  lastHeardAtMs: number;
  private closed = false;
  private readonly offDurable: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly log: FollowerLog,
    private readonly events: ReceiverEvents,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.lastHeardAtMs = nowMs();
    this.caughtUpAtMs = this.lastHeardAtMs;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(`connection error (${err.message})`));
    socket.on('close', () => this.close('the primary closed the connection'));
    this.offDurable = log.onDurable(() => this.scheduleAck());
    this.timer = setInterval(() => this.tick(), KEEPALIVE_MS / 2);
    this.timer.unref();
  }

  start(leftover: Buffer): void {
    this.scheduleAck();
    if (leftover.length > 0) this.onData(leftover);
  }

  lagRecords(): number {
    return Math.max(0, this.primaryLastLsn - this.log.durableSeq());
  }

  /** Bytes received from the primary that are not durable here yet. */
  lagBytes(): number {
    const durable = this.log.durableSeq();
    while (this.pending.length > 0 && (this.pending[0] as { lastLsn: number }).lastLsn <= durable)
      this.pendingBytes -= (this.pending.shift() as { bytes: number }).bytes;
    return this.pendingBytes;
  }

  lagSeconds(): number {
    return this.lagRecords() === 0 ? 0 : (this.nowMs() - this.caughtUpAtMs) / 1000;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.offDurable();
    this.socket.destroy();
    this.events.onClose(reason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastHeardAtMs = this.nowMs();
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame !== undefined; frame = this.reader.next()) {
        this.onFrame(frame);
        if (this.closed) return;
      }
    } catch (err) {
      this.close(`bad frame from the primary: ${(err as Error).message}`);
      return;
    }
    // The batch goes to this disk now; -f MS/-F acknowledge as soon as it is written.
    this.log.flush();
    this.scheduleAck();
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Segment: {
        const at = this.log.position();
        if (frame.index <= at.index && at.lastLsn > 0) {
          this.close(`segment ${frame.index} announced, the log is already at ${at.index}`);
          return;
        }
        this.log.startSegment(frame.index, frame.capacity, frame.header);
        return;
      }
      case FrameType.Data: {
        const at = this.log.position();
        if (frame.index !== at.index || frame.offset !== at.offset) {
          this.close(`data for ${frame.index}:${frame.offset}, the log ends at ${at.index}:${at.offset}`);
          return;
        }
        for (const warning of this.log.append(frame.index, frame.offset, frame.bytes, this.events.onRecord))
          this.events.onWarning(warning);
        this.notePrimary(frame.lastLsn);
        this.pending.push({ lastLsn: frame.lastLsn, bytes: frame.bytes.length });
        this.pendingBytes += frame.bytes.length;
        if (this.pending.length > 1024) this.lagBytes();
        return;
      }
      case FrameType.Heartbeat:
        this.notePrimary(frame.lastLsn);
        this.events.onHeartbeat(frame.term, frame.inSync);
        return;
      default:
        this.close(`unexpected frame type ${frame.type} from the primary`);
    }
  }

  private notePrimary(lastLsn: number): void {
    if (lastLsn > this.primaryLastLsn) this.primaryLastLsn = lastLsn;
    if (this.log.position().lastLsn >= this.primaryLastLsn) this.caughtUpAtMs = this.nowMs();
  }

  private scheduleAck(): void {
    if (this.ackScheduled || this.closed) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.sendAck();
    });
  }

  private sendAck(): void {
    if (this.closed) return;
    this.lastAckAtMs = this.nowMs();
    this.socket.write(encodeAck(this.log.durableSeq(), this.log.position().lastLsn));
  }

  private tick(): void {
    const now = this.nowMs();
    if (now - this.lastHeardAtMs > PRIMARY_SILENCE_MS) {
      this.close(`nothing from the primary for ${PRIMARY_SILENCE_MS} ms`);
      return;
    }
    if (now - this.lastAckAtMs >= KEEPALIVE_MS) this.sendAck();
  }
}
