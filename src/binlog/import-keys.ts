/**
 * Where each import key's latest record is (engine/moves.ts: origin node and id → new id, kept
 * IMPORT_KEY_GRACE_MS past the import, whatever becomes of the job).
 *
 * A key pins the segment holding its latest record — the imported job's full record, or an Import
 * record copied by compaction — as a live job pins its records (job-index.ts), under a negative ref
 * so it never collides with a job id. Compaction copies a key still in its grace as an Import record
 * into the current segment; a key past its grace is dropped and pins nothing any more.
 */
import type { ImportKey } from '../engine/journal';
import { IMPORT_KEY_GRACE_MS } from '../engine/moves';
import { importRecordBytes } from './format';
import type { Segment } from './segment';

export interface ImportKeyEntry {
  key: ImportKey;
  seg: Segment;
  /** Negative: the key's ref in its segment's refs (job ids are positive). */
  ref: number;
}

export class ImportKeyIndex {
  private readonly byRef = new Map<number, ImportKeyEntry>();
  private readonly byKey = new Map<string, ImportKeyEntry>();
  private nextRef = -1;
  /** Σ Import record bytes of the kept keys: part of what a compacted log holds. */
  liveBytes = 0;

  get size(): number {
    return this.byKey.size;
  }

  /** Every kept key, oldest record first (replay hands them to the engine). */
  keys(): ImportKey[] {
    return [...this.byKey.values()].map((e) => e.key);
  }

  /** A record of `key` was written to (or read from) `seg`: it pins seg instead of any older one. */
  noted(key: ImportKey, seg: Segment, lsn: number): void {
    const name = `${key.node}\u0000${key.originId}`;
    const old = this.byKey.get(name);
    if (old !== undefined) this.drop(old, lsn);
    const entry = { key, seg, ref: this.nextRef-- };
    this.byKey.set(name, entry);
    this.byRef.set(entry.ref, entry);
    seg.refs.add(entry.ref);
    this.liveBytes += importRecordBytes(key);
  }

  byRefOf(ref: number): ImportKeyEntry | undefined {
    return this.byRef.get(ref);
  }

  /** True while the key behind `ref` pins `s`. */
  pins(ref: number, s: Segment): boolean {
    return this.byRef.get(ref)?.seg === s;
  }

  /** True while the key must be kept (copied by compaction); false: dropped, it pins nothing now. */
  keepOrDrop(entry: ImportKeyEntry, nowMs: number, lsn: number): boolean {
    if (entry.key.atMs + IMPORT_KEY_GRACE_MS > nowMs) return true;
    this.drop(entry, lsn);
    this.byKey.delete(`${entry.key.node}\u0000${entry.key.originId}`);
    return false;
  }

  /** Drops keys past their grace (oldest first, up to the first kept one). */
  sweep(nowMs: number, lsn: number): void {
    for (const entry of this.byKey.values()) if (this.keepOrDrop(entry, nowMs, lsn)) return;
  }

  private drop(entry: ImportKeyEntry, lsn: number): void {
    this.byRef.delete(entry.ref);
    this.liveBytes -= importRecordBytes(entry.key);
    if (entry.seg.refs.release()) entry.seg.freedAtLsn = lsn;
  }
}
