/**
 * What `stats`, `stats-job` and `stats-tube` show, computed from the engine's state: the records of
 * the protocol's stats vocabulary (src/protocol/stats.ts), times in whole seconds, floored, never
 * negative, as beanstalkd prints them. The node's metrics read tubes through the same view.
 */
import type { Engine } from '../engine/engine';
import type { Job } from '../engine/job';
import { JobState } from '../engine/journal';
import type { EngineCounts } from '../engine/stats';
import type { Tube } from '../engine/tube';
import type { CommandCounts, JobStats, ServerStats, TubeStats } from '../protocol/stats';

/** `binlog-max-size` beanstalkd reports without a binlog: its default segment size, 10 MiB. */
export const BEANSTALKD_DEFAULT_BINLOG_BYTES = 10 * 1024 * 1024;

const floorSecs = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** `file` is the binlog segment holding the job's latest full record (0 without a log). */
export function jobStats(job: Job, nowMs: number, file: number): JobStats {
  const timed = job.state === JobState.Reserved || job.state === JobState.Delayed;
  return {
    id: job.id,
    tube: job.tube.name,
    state: job.state,
    pri: job.pri,
    age: floorSecs(nowMs - job.createdAtMs),
    delay: floorSecs(job.delayMs),
    ttr: floorSecs(job.ttrMs),
    'time-left': timed ? floorSecs(job.deadlineAtMs - nowMs) : 0,
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
    'current-jobs-urgent': t.urgentCount,
    'current-jobs-ready': t.ready.size,
    'current-jobs-reserved': t.reservedCount,
    'current-jobs-delayed': t.delayed.size,
    'current-jobs-buried': t.buriedCount,
    'total-jobs': t.totalJobs,
    'current-using': t.usingCount,
    'current-watching': t.watchingCount,
    'current-waiting': t.waiting.size,
    'cmd-delete': t.cmdDelete,
    'cmd-pause-tube': t.cmdPauseTube,
    pause: t.paused ? floorSecs(t.pauseMs) : 0,
    'pause-time-left': t.paused ? floorSecs(t.unpauseAtMs - nowMs) : 0,
  };
}

/** stats-job of live job `id`, or undefined. */
export function statsJob(engine: Engine, id: number, fileOf: (id: number) => number): JobStats | undefined {
  const job = engine.jobs.get(id);
  return job && jobStats(job, engine.clock.nowMs(), fileOf(id));
}

/** stats-tube of tube `name`, or undefined when it does not exist. */
export function statsTube(engine: Engine, name: string): TubeStats | undefined {
  const tube = engine.findTube(name);
  return tube && tubeStats(tube, engine.clock.nowMs());
}

/** Process-level figures that the engine does not know. */
export interface ServerFigures {
  maxJobBytes: number;
  totalConnections: number;
  version: string;
  uptimeSecs: number;
  binlog:
    | {
        oldestIndex: number;
        currentIndex: number;
        recordsMigrated: number;
        recordsWritten: number;
        maxSizeBytes: number;
      }
    | undefined;
  instanceId: string;
  hostname: string;
  os: string;
  platform: string;
}

/** `stats` of a node: the engine's counts, the command counters and the process's figures. */
export function serverStats(
  counts: EngineCounts,
  cmd: CommandCounts,
  draining: boolean,
  f: ServerFigures,
): ServerStats {
  const usage = process.resourceUsage();
  const b = f.binlog;
  return {
    'current-jobs-urgent': counts.urgent,
    'current-jobs-ready': counts.ready,
    'current-jobs-reserved': counts.reserved,
    'current-jobs-delayed': counts.delayed,
    'current-jobs-buried': counts.buried,
    'cmd-put': cmd.put,
    'cmd-peek': cmd.peek,
    'cmd-peek-ready': cmd['peek-ready'],
    'cmd-peek-delayed': cmd['peek-delayed'],
    'cmd-peek-buried': cmd['peek-buried'],
    'cmd-reserve': cmd.reserve,
    'cmd-reserve-with-timeout': cmd['reserve-with-timeout'],
    'cmd-delete': cmd.delete,
    'cmd-release': cmd.release,
    'cmd-use': cmd.use,
    'cmd-watch': cmd.watch,
    'cmd-ignore': cmd.ignore,
    'cmd-bury': cmd.bury,
    'cmd-kick': cmd.kick,
    'cmd-touch': cmd.touch,
    'cmd-stats': cmd.stats,
    'cmd-stats-job': cmd['stats-job'],
    'cmd-stats-tube': cmd['stats-tube'],
    'cmd-list-tubes': cmd['list-tubes'],
    'cmd-list-tube-used': cmd['list-tube-used'],
    'cmd-list-tubes-watched': cmd['list-tubes-watched'],
    'cmd-pause-tube': cmd['pause-tube'],
    'job-timeouts': counts.jobTimeouts,
    'total-jobs': counts.totalJobs,
    'max-job-size': f.maxJobBytes,
    'current-tubes': counts.tubes,
    'current-connections': counts.sessions,
    'current-producers': counts.producers,
    'current-workers': counts.workers,
    'current-waiting': counts.waiting,
    'total-connections': f.totalConnections,
    pid: process.pid,
    version: f.version,
    'rusage-utime': usage.userCPUTime / 1e6,
    'rusage-stime': usage.systemCPUTime / 1e6,
    uptime: f.uptimeSecs,
    'binlog-oldest-index': b?.oldestIndex ?? 0,
    'binlog-current-index': b?.currentIndex ?? 0,
    'binlog-records-migrated': b?.recordsMigrated ?? 0,
    'binlog-records-written': b?.recordsWritten ?? 0,
    'binlog-max-size': b?.maxSizeBytes ?? BEANSTALKD_DEFAULT_BINLOG_BYTES,
    draining,
    id: f.instanceId,
    hostname: f.hostname,
    os: f.os,
    platform: f.platform,
  };
}
