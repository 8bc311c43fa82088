/**
 * Job and connection figures the engine keeps current incrementally (no scans at stats time).
 * How they are printed (`stats`, stats-tube, metrics) is not the engine's business: see
 * src/server/stats-view.ts and src/protocol/stats.ts.
 */
export interface EngineCounts {
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  jobTimeouts: number;
  totalJobs: number;
  tubes: number;
  sessions: number;
  producers: number;
  workers: number;
  waiting: number;
}
