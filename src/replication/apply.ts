/**
 * A record of the primary's log onto a standby's engine: the same per-record rules as replay
 * (src/binlog/replay.ts), through the engine's apply API. Ids only grow: every record that names an
 * id, and every id floor, moves the engine's next id above it, so a promoted standby never hands
 * out an id the old primary may have used.
 */
import { isMadePut, type LogRecord, RecordType, START_NEW_TERM } from '../binlog/format';
import type { Engine } from '../engine/engine';

/**
 * Applies one record. total-jobs and cmd-delete follow the primary's: each job a put record makes
 * and each client's delete counts, from zero again with each term (its primary's start or promotion).
 */
export function applyLogRecord(engine: Engine, rec: LogRecord, buf: Buffer): void {
  switch (rec.type) {
    case RecordType.Start:
      if ((rec.flags & START_NEW_TERM) !== 0) engine.resetTermCounts();
      engine.setNextId(rec.maxId + 1);
      return;
    case RecordType.Put:
      if (
        engine.applyRecord(rec.job, buf.subarray(rec.bodyAt, rec.bodyAt + rec.bodyBytes), rec.movingTo) &&
        isMadePut(rec.flags)
      )
        engine.countMade(rec.job.tube);
      if (rec.origin) engine.restoreImportKey(rec.origin);
      engine.setNextId(rec.job.id + 1);
      return;
    case RecordType.Update:
      engine.applyRecord({ ...rec.job, tube: '' }, undefined);
      return;
    case RecordType.Move:
      engine.applyRecord({ ...rec.job, tube: '' }, undefined, rec.dest);
      return;
    case RecordType.Import:
      engine.restoreImportKey(rec.key);
      return;
    case RecordType.Delete:
      engine.applyDelete(rec.id);
      engine.setNextId(rec.id + 1);
      return;
    case RecordType.Ids:
      // Ids up to the ceiling may have been seen by clients of the primary.
      engine.setNextId(rec.ceiling + 1);
      return;
  }
}
