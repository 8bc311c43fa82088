/**
 * Which old segments may go, and the compaction trigger.
 *
 * Segments are unlinked oldest first, so the files left are always a suffix of the log: replaying a
 * suffix gives the same live jobs as replaying everything, because every record that superseded
 * something in a removed segment is in a later one. A segment may go when
 *   - it is not the current one and nothing pins it (job-index.ts),
 *   - the record that unpinned it is safe (fsynced; under -F: written), so a power loss cannot
 *     leave us with neither the old record nor its replacement,
 *   - the next segment's start record is safe: it carries the id floor (max id ever logged) that the
 *     removed file may have been the last to hold;
 *   - no replication sender is reading it (a catch-up or full copy in progress).
 */
import type { FileOps } from './file-ops';
import type { Segment } from './segment';

export function canUnlinkOldest(segments: readonly Segment[], current: Segment, safeLsn: number): boolean {
  const s = segments[0];
  if (s === undefined || s === current || s.refs.size > 0 || !s.closed || s.readers > 0) return false;
  return safeLsn >= Math.max(s.freedAtLsn, s.successorStartLsn);
}

/**
 * Unlinks unpinned segments from the head (removing them from `segments`). Between two unlinks the
 * directory is fsynced (unless `syncDir` is false, -F): a power loss can then only bring back the
 * oldest of them, and the files left stay a suffix of the log.
 */
export async function unlinkOldSegments(
  ops: FileOps,
  dir: string,
  segments: Segment[],
  current: () => Segment,
  safeLsn: () => number,
  syncDir: boolean,
  stop: () => boolean,
): Promise<void> {
  while (!stop() && canUnlinkOldest(segments, current(), safeLsn())) {
    const s = segments.shift()!;
    try {
      await ops.unlink(s.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        segments.unshift(s);
        throw err;
      }
    }
    if (syncDir && canUnlinkOldest(segments, current(), safeLsn())) await ops.fsyncDir(dir);
  }
}

/**
 * Bytes of the old segments that remain once the unpinned head is unlinked: from the oldest pinned
 * segment up to (not including) the current one. Compaction runs while this exceeds 2 × live bytes.
 */
export function pinnedOldBytes(segments: readonly Segment[], current: Segment): number {
  let n = 0;
  let pinned = false;
  for (const s of segments) {
    if (s === current) break;
    pinned ||= s.refs.size > 0;
    if (pinned) n += s.used;
  }
  return n;
}
