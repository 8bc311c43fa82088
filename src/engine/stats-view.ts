/** stats-job and stats-tube figures as beanstalkd prints them: whole seconds, floored, never negative. */
import type { Job } from './job';
import { JobState } from './journal';
import type { JobStats, TubeStats } from './stats';
import type { Tube } from './tube';

const floorSecs = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** `file` is the binlog segment holding the job's latest full record (0 without a log). */
export function jobStats(job: Job, nowMs: number, file: number): JobStats {
  const timed = job.state === JobState.Reserved || job.state === JobState.Delayed;
  return {
    id: job.id,
    tube: job.tube.name,
    state: job.state,
    pri: job.pri,
    ageSecs: floorSecs(nowMs - job.createdAtMs),
    delaySecs: floorSecs(job.delayMs),
    ttrSecs: floorSecs(job.ttrMs),
    timeLeftSecs: timed ? floorSecs(job.deadlineAtMs - nowMs) : 0,
    file,
    reserves: job.reserves,
    timeouts: job.timeouts,
    releases: job.releases,
    buries: job.buries,
    kicks: job.kicks,
  };
}

export function tubeStats(t: Tube, nowMs: number): TubeStats {
  return {
    name: t.name,
    urgent: t.urgentCount,
    ready: t.ready.size,
    reserved: t.reservedCount,
    delayed: t.delayed.size,
    buried: t.buriedCount,
    totalJobs: t.totalJobs,
    using: t.usingCount,
    watching: t.watchingCount,
    waiting: t.waiting.size,
    cmdDelete: t.cmdDelete,
    cmdPauseTube: t.cmdPauseTube,
    pauseSecs: t.paused ? floorSecs(t.pauseMs) : 0,
    pauseTimeLeftSecs: t.paused ? floorSecs(t.unpauseAtMs - nowMs) : 0,
  };
}
