/**
 * The stats vocabulary, one home for node, proxy and client: the commands beanstalkd counts, and
 * the keys of `stats`, `stats-tube` and `stats-job` in the order it prints them, each with its
 * kind. The server renders these records (replies.ts), the proxy merges them, the client parses
 * them back (`convertStats`). Keys are spelled as on the wire (`stats['current-jobs-ready']`).
 *
 * Kinds: `number`; `seconds` (rusage, printed with microsecond digits); `boolean`; `state` (a job
 * state); `string` (quoted by 1.13, bare in 1.12: `name: "default"`); `quoted` (quoted by both:
 * `version`); `word` (never quoted: `id`).
 *
 * Parsing: every key of beanstalkd 1.12/1.13 is required; a missing one or a value of the wrong
 * shape is a bad reply. Keys a newer server adds are kept as strings.
 */
import { YamlFormatError } from './yaml';

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

export type CommandCounts = Record<CountedCommand, number>;

export function newCommandCounts(): CommandCounts {
  const counts = {} as CommandCounts;
  for (const name of COUNTED_COMMANDS) counts[name] = 0;
  return counts;
}

export type FieldKind = 'number' | 'seconds' | 'string' | 'quoted' | 'word' | 'boolean' | 'state';
type FieldValue<K extends FieldKind> = K extends 'number' | 'seconds'
  ? number
  : K extends 'boolean'
    ? boolean
    : K extends 'state'
      ? JobState
      : string;
export type StatsOf<T extends Record<string, FieldKind>> = { -readonly [P in keyof T]: FieldValue<T[P]> };

/** `moving`: stalkd only, a job being moved to another node (docs/migration.md). */
export type JobState = 'ready' | 'reserved' | 'delayed' | 'buried' | 'moving';

/** The 51 keys of `stats`, in emitted order. Times are seconds; `rusage-*` have microsecond digits. */
export const SERVER_STATS_FIELDS = {
  'current-jobs-urgent': 'number',
  'current-jobs-ready': 'number',
  'current-jobs-reserved': 'number',
  'current-jobs-delayed': 'number',
  'current-jobs-buried': 'number',
  'cmd-put': 'number',
  'cmd-peek': 'number',
  'cmd-peek-ready': 'number',
  'cmd-peek-delayed': 'number',
  'cmd-peek-buried': 'number',
  'cmd-reserve': 'number',
  'cmd-reserve-with-timeout': 'number',
  'cmd-delete': 'number',
  'cmd-release': 'number',
  'cmd-use': 'number',
  'cmd-watch': 'number',
  'cmd-ignore': 'number',
  'cmd-bury': 'number',
  'cmd-kick': 'number',
  'cmd-touch': 'number',
  'cmd-stats': 'number',
  'cmd-stats-job': 'number',
  'cmd-stats-tube': 'number',
  'cmd-list-tubes': 'number',
  'cmd-list-tube-used': 'number',
  'cmd-list-tubes-watched': 'number',
  'cmd-pause-tube': 'number',
  'job-timeouts': 'number',
  'total-jobs': 'number',
  'max-job-size': 'number',
  'current-tubes': 'number',
  'current-connections': 'number',
  'current-producers': 'number',
  'current-workers': 'number',
  'current-waiting': 'number',
  'total-connections': 'number',
  pid: 'number',
  version: 'quoted',
  'rusage-utime': 'seconds',
  'rusage-stime': 'seconds',
  uptime: 'number',
  'binlog-oldest-index': 'number',
  'binlog-current-index': 'number',
  'binlog-records-migrated': 'number',
  'binlog-records-written': 'number',
  'binlog-max-size': 'number',
  draining: 'boolean',
  /** 16 lowercase hex digits, random per server process. */
  id: 'word',
  hostname: 'string',
  os: 'string',
  platform: 'string',
} as const satisfies Record<string, FieldKind>;

/** The 14 keys of `stats-tube`, in emitted order. `pause`/`pause-time-left` are seconds. */
export const TUBE_STATS_FIELDS = {
  name: 'string',
  'current-jobs-urgent': 'number',
  'current-jobs-ready': 'number',
  'current-jobs-reserved': 'number',
  'current-jobs-delayed': 'number',
  'current-jobs-buried': 'number',
  'total-jobs': 'number',
  'current-using': 'number',
  'current-watching': 'number',
  'current-waiting': 'number',
  'cmd-delete': 'number',
  'cmd-pause-tube': 'number',
  pause: 'number',
  'pause-time-left': 'number',
} as const satisfies Record<string, FieldKind>;

/** The 14 keys of `stats-job`, in emitted order. `age`/`delay`/`ttr`/`time-left` are seconds. */
export const JOB_STATS_FIELDS = {
  id: 'number',
  tube: 'string',
  state: 'state',
  pri: 'number',
  age: 'number',
  delay: 'number',
  ttr: 'number',
  'time-left': 'number',
  file: 'number',
  reserves: 'number',
  timeouts: 'number',
  releases: 'number',
  buries: 'number',
  kicks: 'number',
} as const satisfies Record<string, FieldKind>;

export type ServerStats = StatsOf<typeof SERVER_STATS_FIELDS>;
export type TubeStats = StatsOf<typeof TUBE_STATS_FIELDS>;
export type JobStats = StatsOf<typeof JOB_STATS_FIELDS>;

const NUMBER = /^\d+(\.\d+)?$/;
const JOB_STATES: ReadonlySet<string> = new Set(['ready', 'reserved', 'delayed', 'buried', 'moving']);

function convertValue(key: string, kind: FieldKind, text: string): number | string | boolean {
  switch (kind) {
    case 'number':
    case 'seconds': {
      const n = Number(text);
      if (!NUMBER.test(text) || !Number.isFinite(n))
        throw new YamlFormatError(`${key}: not a number: ${text}`);
      return n;
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new YamlFormatError(`${key}: not a boolean: ${text}`);
      return text === 'true';
    case 'state':
      if (!JOB_STATES.has(text)) throw new YamlFormatError(`${key}: not a job state: ${text}`);
      return text;
    default:
      return text;
  }
}

/** Converts a parsed YAML map to typed stats by a field table; throws YamlFormatError on mismatch. */
export function convertStats<T extends Record<string, FieldKind>>(
  map: Record<string, string>,
  fields: T,
): StatsOf<T> {
  const out: Record<string, number | string | boolean> = {};
  const kinds: Record<string, FieldKind> = fields;
  for (const key of Object.keys(map)) {
    const kind = Object.hasOwn(kinds, key) ? kinds[key] : undefined;
    out[key] = convertValue(key, kind ?? 'string', map[key] ?? '');
  }
  for (const key of Object.keys(fields)) {
    if (!Object.hasOwn(out, key)) throw new YamlFormatError(`missing key ${key}`);
  }
  return out as StatsOf<T>;
}
