/**
 * Ids are handed out under a logged ceiling, so a restart never hands out an id a client may have
 * seen — whatever the crash interrupted (issue 13: a job reserved by one client while its put was
 * still unwritten, then a kill -9, then the same id for a new put).
 *
 * The engine asks for a ceiling when its next id passes the current one. The ceiling in force was
 * logged and made safe (written, and synced unless -F) before it was granted; the next one is
 * logged as soon as a ceiling is granted, so it is normally on disk long before it is needed and
 * granting it costs nothing. Only when ids outrun it (a burst) does the grant wait for a synchronous
 * fdatasync, and the block doubles so that this stays rare. Blocks start at MIN_BLOCK ids and
 * shrink back when a block lasts long. After a crash the next id is above the highest ceiling
 * logged (at most two blocks above the last id used); a clean stop logs the exact highest id, so
 * ids go on right after it.
 */

/** What the ceiling needs from the log. */
export interface CeilingLog {
  /** Appends an Ids record; returns its LSN, or null when it cannot be logged (no room, failing disk). */
  appendCeiling(ceiling: number): number | null;
  /** LSN up to which records are safe for ids (written, and synced unless -F). */
  safeLsn(): number;
  /** Writes and syncs everything appended now, blocking; false when the disk fails. */
  syncNow(): boolean;
  nowMs(): number;
}

export const MIN_BLOCK = 1024;
export const MAX_BLOCK = 1 << 20;
/** A block used up faster than this doubles the next one. */
const FAST_BLOCK_MS = 1000;
/** A block that lasts longer than this halves the next one. */
const SLOW_BLOCK_MS = 60_000;

export class IdCeiling {
  /** Ids up to this may be handed out: its record is safe. */
  granted: number;
  /** The next ceiling, logged ahead (0 when none is logged yet). */
  private next = 0;
  private nextLsn = 0;
  private block = MIN_BLOCK;
  private grantedAtMs: number;
  /** Grants that had to wait for a synchronous fsync (a burst outran the logged-ahead ceiling). */
  forcedSyncs = 0;

  constructor(
    private readonly log: CeilingLog,
    floor: number,
  ) {
    this.granted = floor;
    this.grantedAtMs = Number.NEGATIVE_INFINITY; // the first block has the minimum size
  }

  /**
   * Makes `id` safe to hand out. Returns the ceiling now granted (≥ id), or null when no ceiling
   * can be logged — the caller refuses the put (OUT_OF_MEMORY).
   */
  reserve(id: number): number | null {
    if (id > this.granted) {
      if (this.next < id) {
        const lsn = this.log.appendCeiling(id + this.block - 1);
        if (lsn === null) return null;
        this.next = id + this.block - 1;
        this.nextLsn = lsn;
      }
      if (this.log.safeLsn() < this.nextLsn) {
        if (!this.log.syncNow()) return null;
        this.forcedSyncs++;
      }
      this.grant();
    }
    if (this.next <= this.granted) {
      const lsn = this.log.appendCeiling(this.granted + this.block);
      // Logging ahead may fail (disk full); the grant above stands, the next reserve tries again.
      if (lsn !== null) {
        this.next = this.granted + this.block;
        this.nextLsn = lsn;
      }
    }
    return this.granted;
  }

  /** The highest ceiling logged, granted or not: what a new segment's start record carries. */
  highest(): number {
    return Math.max(this.granted, this.next);
  }

  private grant(): void {
    const now = this.log.nowMs();
    const lastedMs = now - this.grantedAtMs;
    if (lastedMs < FAST_BLOCK_MS) this.block = Math.min(this.block * 2, MAX_BLOCK);
    else if (lastedMs > SLOW_BLOCK_MS) this.block = Math.max(this.block / 2, MIN_BLOCK);
    this.granted = this.next;
    this.grantedAtMs = now;
  }
}
