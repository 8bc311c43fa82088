/**
 * Records packed into large shared slabs. beanstalkd allocates a job and its body in one malloc;
 * here many jobs share one ArrayBuffer and the job table keeps only (slab number, offset) — a
 * Buffer object per body costs ~96 bytes of JS heap on top of the body.
 *
 * Allocation bumps a pointer in the current slab. Bytes once written are never reused for another
 * record: a reply may still hold a view of a freed body while its socket drains, so space comes
 * back only by dropping whole slabs (the GC frees an ArrayBuffer when no view of it remains).
 * A slab left with no live record is dropped at once. A sealed slab (no longer current) whose live
 * bytes are under half its size is evacuated: its live records are copied into the current slab,
 * their owners are told where they went (`onMove`), and the slab is dropped. Hence:
 *   - every sealed slab is at least half live, so slab bytes ≤ 2 × live bytes + one slab (the
 *     current one) + the dedicated slabs of records too big to share one;
 *   - a slab is sealed when the next record (≤ S/8) does not fit, so it is over 7/8 used; an
 *     evacuation then copies < S/2 live bytes and takes back > 3S/8 freed ones: copying costs at
 *     most 4/3 of a byte per byte freed, and each byte freed pays once (its slab goes).
 *
 * Record layout (offsets 8-byte aligned; the arena owns the first 12 bytes, the owner the rest):
 *   +0  f64  key — names the owner (the job table uses slot + 1), ≥ 1; 0 = freed
 *   +8  u32  length of the record in bytes, before rounding up to 8
 */
import { invariant } from './invariant';

/** Shared slab size: 256 KiB holds ~1,500 jobs of 100 bytes; evacuating half of one takes ~0.1 ms. */
export const DEFAULT_SLAB_BYTES = 256 * 1024;
/** Bytes the arena keeps at the start of each record (key and length). */
export const ARENA_HEADER_BYTES = 12;

const KEY_F64 = 0;
const LENGTH_U32 = 2;

/** Told the new place of each record an evacuation moves. */
export type MoveListener = (key: number, slab: Slab, at: number) => void;

const align8 = (n: number): number => (n + 7) & ~7;

/** One ArrayBuffer seen as bytes, u32 and f64 (records are 8-aligned, so every view lines up). */
export class Slab {
  readonly bytes: Buffer;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** Bump pointer: bytes handed out so far. */
  used = 0;
  /** Sum of the rounded lengths of the records not yet freed. */
  liveBytes = 0;
  /** Offset of the record most recently allocated here (the second result of SlabArena.alloc). */
  lastAt = 0;
  /** Queued for evacuation (or being evacuated). */
  evacuating = false;

  constructor(
    /** Small integer naming this slab while it lives (SlabArena.slab(no)); reused after a drop. */
    readonly no: number,
    readonly capacity: number,
    /** A dedicated slab holds one big record and is never current nor evacuated. */
    readonly dedicated: boolean,
  ) {
    this.bytes = Buffer.allocUnsafeSlow(capacity);
    this.u32 = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, capacity >>> 2);
    this.f64 = new Float64Array(this.bytes.buffer, this.bytes.byteOffset, capacity >>> 3);
  }

  keyAt(at: number): number {
    return this.f64[(at >>> 3) + KEY_F64] as number;
  }

  /** The record's length as allocated (before rounding). */
  lengthAt(at: number): number {
    return this.u32[(at >>> 2) + LENGTH_U32] as number;
  }
}

export class SlabArena {
  /** Records larger than this get a slab of their own (so a shared slab's unused tail is < S/8). */
  readonly maxSharedBytes: number;
  /** Accounting: slabs alive (not yet dropped), their total size, and what is live in them. */
  slabCount = 0;
  capacityBytes = 0;
  liveBytes = 0;
  liveRecords = 0;
  /** Bytes and records copied by evacuations since the start. */
  movedBytes = 0;
  movedRecords = 0;

  private current: Slab | null = null;
  /** Live slabs by number; numbers of dropped slabs are reused. */
  private readonly slabs: (Slab | undefined)[] = [];
  private readonly freeNos: number[] = [];
  private readonly evacuations: Slab[] = [];
  private evacuatingNow = false;

  constructor(
    private readonly onMove: MoveListener,
    readonly slabBytes = DEFAULT_SLAB_BYTES,
  ) {
    invariant(slabBytes >= 64 && slabBytes % 8 === 0, 'slab size must be a multiple of 8, at least 64');
    this.maxSharedBytes = slabBytes >>> 3;
  }

  /**
   * A record of `bytes` (≥ ARENA_HEADER_BYTES) for `key` (≥ 1). Returns its slab; the offset is
   * slab.lastAt. The caller fills everything past the arena's header. No record moves between
   * this call and the next free.
   */
  alloc(key: number, bytes: number): Slab {
    invariant(key >= 1 && bytes >= ARENA_HEADER_BYTES, 'bad record');
    const size = align8(bytes);
    if (size > this.maxSharedBytes) {
      const slab = this.openSlab(size, true);
      this.place(slab, key, bytes, size);
      return slab;
    }
    // Evacuations queued by sealing run first, so nothing moves once the new record is placed.
    let slab = this.roomFor(size);
    if (this.evacuations.length > 0) {
      this.runEvacuations();
      slab = this.roomFor(size);
    }
    this.place(slab, key, bytes, size);
    return slab;
  }

  /** The live slab numbered `no`. */
  slab(no: number): Slab {
    const slab = this.slabs[no];
    invariant(slab !== undefined, `no slab ${no}`);
    return slab;
  }

  /** The record at (slab, at) now belongs to `key` (its owner was renumbered). */
  rekey(slab: Slab, at: number, key: number): void {
    invariant(key >= 1 && slab.keyAt(at) !== 0, 'rekey of a free record');
    slab.f64[(at >>> 3) + KEY_F64] = key;
  }

  /** The record at (slab, at) is no longer needed; its slab may be dropped or evacuated. */
  free(slab: Slab, at: number): void {
    const key = slab.keyAt(at);
    invariant(key !== 0, 'record freed twice');
    slab.f64[(at >>> 3) + KEY_F64] = 0;
    const size = align8(slab.lengthAt(at));
    slab.liveBytes -= size;
    this.liveBytes -= size;
    this.liveRecords--;
    if (slab === this.current) return;
    if (slab.liveBytes === 0) {
      if (!slab.evacuating) this.drop(slab);
      return;
    }
    this.queueIfSparse(slab);
    this.runEvacuations();
  }

  private place(slab: Slab, key: number, bytes: number, size: number): void {
    const at = slab.used;
    slab.f64[(at >>> 3) + KEY_F64] = key;
    slab.u32[(at >>> 2) + LENGTH_U32] = bytes;
    slab.used += size;
    slab.liveBytes += size;
    slab.lastAt = at;
    this.liveBytes += size;
    this.liveRecords++;
  }

  /** The current slab if `size` fits, else a new current slab (the old one is sealed). */
  private roomFor(size: number): Slab {
    const current = this.current;
    if (current !== null && current.capacity - current.used >= size) return current;
    this.current = null;
    if (current !== null) {
      if (current.liveBytes === 0) this.drop(current);
      else this.queueIfSparse(current);
    }
    const slab = this.openSlab(this.slabBytes, false);
    this.current = slab;
    return slab;
  }

  private queueIfSparse(slab: Slab): void {
    if (slab.dedicated || slab.evacuating || slab === this.current) return;
    if (slab.liveBytes * 2 >= slab.capacity) return;
    slab.evacuating = true;
    this.evacuations.push(slab);
  }

  /**
   * Moves the live records of every queued slab into the current slab. Filling the current slab
   * may seal it and queue it in turn; that ends, since each round takes back more dead bytes
   * than it creates (a slab tail).
   */
  private runEvacuations(): void {
    if (this.evacuatingNow) return;
    this.evacuatingNow = true;
    try {
      for (let slab = this.evacuations.pop(); slab; slab = this.evacuations.pop()) this.evacuate(slab);
    } finally {
      this.evacuatingNow = false;
    }
  }

  private evacuate(from: Slab): void {
    for (let at = 0; at < from.used && from.liveBytes > 0; ) {
      const bytes = from.lengthAt(at);
      const size = align8(bytes);
      const key = from.keyAt(at);
      if (key !== 0) {
        const to = this.roomFor(size);
        const toAt = to.used;
        from.bytes.copy(to.bytes, toAt, at, at + bytes);
        to.used += size;
        to.liveBytes += size;
        from.f64[(at >>> 3) + KEY_F64] = 0;
        from.liveBytes -= size;
        this.movedBytes += size;
        this.movedRecords++;
        this.onMove(key, to, toAt);
      }
      at += size;
    }
    invariant(from.liveBytes === 0, 'evacuated slab still live');
    this.drop(from);
  }

  private openSlab(capacity: number, dedicated: boolean): Slab {
    this.slabCount++;
    this.capacityBytes += capacity;
    const no = this.freeNos.pop() ?? this.slabs.length;
    const slab = new Slab(no, capacity, dedicated);
    this.slabs[no] = slab;
    return slab;
  }

  /** Forgets a slab with nothing live: the GC frees it once replies still sending from it are out. */
  private drop(slab: Slab): void {
    this.slabCount--;
    this.capacityBytes -= slab.capacity;
    this.slabs[slab.no] = undefined;
    this.freeNos.push(slab.no);
  }
}
