/** Command counters in the order beanstalkd prints them (`cmd-*` keys of `stats`). */
export const COUNTED_COMMANDS = [
  'put',
  'peek',
  'peek-ready',
  'peek-delayed',
  'peek-buried',
  'reserve',
  'reserve-with-timeout',
  'delete',
  'release',
  'use',
  'watch',
  'ignore',
  'bury',
  'kick',
  'touch',
  'stats',
  'stats-job',
  'stats-tube',
  'list-tubes',
  'list-tube-used',
  'list-tubes-watched',
  'pause-tube',
] as const;
export type CountedCommand = (typeof COUNTED_COMMANDS)[number];

/** Counters beanstalkd keeps for commands that have no `stats` key. */
export type UncountedCommand = 'reserve-job' | 'kick-job' | 'quit';

export type CommandCounts = Record<CountedCommand, number>;

export function newCommandCounts(): CommandCounts {
  const counts = {} as CommandCounts;
  for (const name of COUNTED_COMMANDS) counts[name] = 0;
  return counts;
}

/** Job and connection figures the engine keeps current incrementally (no scans at stats time). */
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

export interface TubeStats {
  name: string;
  urgent: number;
  ready: number;
  reserved: number;
  delayed: number;
  buried: number;
  totalJobs: number;
  using: number;
  watching: number;
  waiting: number;
  cmdDelete: number;
  cmdPauseTube: number;
  /** Seconds, as configured, while paused; else 0. */
  pauseSecs: number;
  pauseTimeLeftSecs: number;
}

export interface JobStats {
  id: number;
  tube: string;
  state: string;
  pri: number;
  ageSecs: number;
  delaySecs: number;
  ttrSecs: number;
  timeLeftSecs: number;
  file: number;
  reserves: number;
  timeouts: number;
  releases: number;
  buries: number;
  kicks: number;
}
