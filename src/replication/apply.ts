/**
 * A record of the primary's log onto a standby's engine: the same per-record rules as replay
 * (src/binlog/replay.ts), through the engine's apply API. Ids only grow: every record that names an
 * id, and every id floor, moves the engine's next id above it, so a promoted standby never hands
 * out an id the old primary may have used.
 */
import { type LogRecord, RecordType } from '../binlog/format';
import type { Engine } from '../engine/engine';

export function applyLogRecord(engine: Engine, rec: LogRecord, buf: Buffer): void {
  switch (rec.type) {
    case RecordType.Start:
      engine.setNextId(rec.maxId + 1);
      return;
    case RecordType.Put:
      engine.applyRecord(rec.job, buf.subarray(rec.bodyAt, rec.bodyAt + rec.bodyBytes), rec.movingTo);
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
