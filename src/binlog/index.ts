/** The write-ahead log of a storage node (`stalkd node -b DIR`). */
export { Binlog } from './binlog';
export {
  type BinlogOptions,
  type BinlogStats,
  DEFAULT_FSYNC_EVERY_MS,
  DEFAULT_SEGMENT_BYTES,
  type JobSource,
} from './contract';
export { type FileOps, nodeFileOps } from './file-ops';
export { BinlogImportError, IMPORTED_DIR } from './import-beanstalkd';
export { BinlogLockedError } from './lock';
export { SyncMode } from './log-writer';
export { type JobRestorer, type OpenedBinlog, openBinlog, restoreInto } from './open';
export type { ReplayedJob } from './replay';
