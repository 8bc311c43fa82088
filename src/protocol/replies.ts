/**
 * Reply formatting, one home for node and proxy: prebuilt reply lines, `<word> <n>…` lines with the
 * digits written in place, `OK <n>` + YAML, and the YAML of stats and lists (beanstalkd 1.13
 * formats). A reply is a buffer or a list of buffers written back to back (a job: header, body).
 */
import { DEFAULT_DIALECT, type Dialect } from './dialect';
import type { Reply } from './reply-parser';
import {
  type FieldKind,
  JOB_STATS_FIELDS,
  type JobStats,
  SERVER_STATS_FIELDS,
  type ServerStats,
  type StatsOf,
  TUBE_STATS_FIELDS,
  type TubeStats,
} from './stats';
import { unquote } from './yaml';

/** One reply as bytes: a buffer, or buffers written back to back (a job's header and body). */
export type ReplyBytes = Buffer | readonly Buffer[];

const line = (s: string): Buffer => Buffer.from(`${s}\r\n`, 'latin1');

export const REPLY = {
  BAD_FORMAT: line('BAD_FORMAT'),
  UNKNOWN_COMMAND: line('UNKNOWN_COMMAND'),
  JOB_TOO_BIG: line('JOB_TOO_BIG'),
  EXPECTED_CRLF: line('EXPECTED_CRLF'),
  DRAINING: line('DRAINING'),
  OUT_OF_MEMORY: line('OUT_OF_MEMORY'),
  INTERNAL_ERROR: line('INTERNAL_ERROR'),
  NOT_FOUND: line('NOT_FOUND'),
  DELETED: line('DELETED'),
  RELEASED: line('RELEASED'),
  BURIED: line('BURIED'),
  TOUCHED: line('TOUCHED'),
  KICKED: line('KICKED'),
  PAUSED: line('PAUSED'),
  NOT_IGNORED: line('NOT_IGNORED'),
  TIMED_OUT: line('TIMED_OUT'),
  DEADLINE_SOON: line('DEADLINE_SOON'),
  CANCELLED: line('CANCELLED'),
  NOT_WAITING: line('NOT_WAITING'),
  UNRESERVED: line('UNRESERVED'),
  // Replication (docs/replication.md).
  NOT_PRIMARY: line('NOT_PRIMARY'),
  NOT_STANDBY: line('NOT_STANDBY'),
  NOT_IN_SYNC: line('NOT_IN_SYNC'),
  UNAUTHORIZED: line('UNAUTHORIZED'),
  OK: line('OK'),
} as const;
export type ReplyWord = keyof typeof REPLY;

/**
 * `<word> <n>[ <m>[ <k>[ <l>]]]\r\n` (INSERTED, RESERVED, FOUND lines) with the digits written straight
 * into the reply. Not via a template string: the string of each number converted is kept in V8's
 * number-string cache, so it survives scavenges; at one per reply, V8 then grows the young
 * generation (measured over a million puts: 32 MiB resident instead of 16).
 */
export function numbersLine(word: Buffer, a: number, b = -1, c = -1, d = -1): Buffer {
  const bytes =
    word.length + 1 + decimalDigits(a) + 2 + optionalBytes(b) + optionalBytes(c) + optionalBytes(d);
  const out = Buffer.allocUnsafe(bytes);
  word.copy(out, 0);
  out[word.length] = SPACE;
  let at = writeDecimal(out, word.length + 1, a);
  at = writeOptional(out, at, b);
  at = writeOptional(out, at, c);
  at = writeOptional(out, at, d);
  out[at] = CR;
  out[at + 1] = LF;
  return out;
}

const SPACE = 32;
const CR = 13;
const LF = 10;

/** Digits of a non-negative integer (at most 2^53). */
function decimalDigits(n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Bytes of ` <n>`, or 0 for an absent number (negative). */
function optionalBytes(n: number): number {
  return n >= 0 ? 1 + decimalDigits(n) : 0;
}

/** Writes ` <n>` at `at` unless n is absent (negative); returns the offset after it. */
function writeOptional(out: Buffer, at: number, n: number): number {
  if (n < 0) return at;
  out[at] = SPACE;
  return writeDecimal(out, at + 1, n);
}

/** Writes n in decimal at `at`; returns the offset after the last digit. */
function writeDecimal(out: Buffer, at: number, n: number): number {
  const end = at + decimalDigits(n);
  let rest = n;
  for (let p = end - 1; p >= at; p--) {
    const next = Math.floor(rest / 10);
    out[p] = 48 + (rest - next * 10);
    rest = next;
  }
  return end;
}

/** `OK <n>\r\n<yaml>\r\n` where n is the YAML's byte length (without the final CRLF). */
export function okYaml(yaml: string): Buffer {
  const bytes = Buffer.byteLength(yaml);
  const out = Buffer.allocUnsafe(3 + String(bytes).length + 2 + bytes + 2);
  let at = out.write(`OK ${bytes}\r\n`, 0, 'latin1');
  at += out.write(yaml, at);
  out.write('\r\n', at, 'latin1');
  return out;
}

/** YAML list as beanstalkd prints it: names never quoted. */
export function yamlList(names: Iterable<string>): string {
  let s = '---\n';
  for (const name of names) s += `- ${name}\n`;
  return s;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** The prebuilt bytes of every bare reply line (`DELETED`, `NOT_FOUND` …) by its text: passed on without a copy. */
const FIXED_LINES = new Map<string, Buffer>(
  Object.values(REPLY).map((bytes) => [bytes.toString('latin1', 0, bytes.length - 2), bytes]),
);

/** A reply read from a server (reply-parser.ts), written out again unchanged. */
export function replyBytes(reply: Reply): ReplyBytes {
  if (reply.body === undefined) {
    const fixed = FIXED_LINES.get(reply.line);
    if (fixed) return fixed;
  }
  const head = Buffer.from(`${reply.line}\r\n`, 'latin1');
  return reply.body ? [head, reply.body, CRLF] : head;
}

/** `<line>\r\n` for a line built at run time (`USING <tube>`, `WATCHING <n>`, `KICKED <n>`). */
export function lineReply(text: string): Buffer {
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** A string value as `dialect` writes it: quoted by 1.13, bare in 1.12 (`version`: always quoted). */
export function formatString(kind: 'string' | 'quoted', value: string, dialect: Dialect): string {
  return kind === 'string' && dialect === '1.12' ? value : `"${value}"`;
}

function formatValue(kind: FieldKind, value: string | number | boolean, dialect: Dialect): string {
  if (kind === 'string' || kind === 'quoted') return formatString(kind, String(value), dialect);
  if (kind === 'seconds') return (value as number).toFixed(6);
  return String(value);
}

/** A stats record as YAML, keys in the field table's order (beanstalkd's). */
function renderFields<T extends Record<string, FieldKind>>(
  fields: T,
  values: StatsOf<T>,
  dialect: Dialect,
): string {
  let s = '---\n';
  for (const key in fields) s += `${key}: ${formatValue(fields[key] as FieldKind, values[key], dialect)}\n`;
  return s;
}

/** The 51 keys of `stats`, in beanstalkd's order. */
export function renderStats(stats: ServerStats, dialect: Dialect = DEFAULT_DIALECT): string {
  return renderFields(SERVER_STATS_FIELDS, stats, dialect);
}

export function renderTubeStats(stats: TubeStats, dialect: Dialect = DEFAULT_DIALECT): string {
  return renderFields(TUBE_STATS_FIELDS, stats, dialect);
}

export function renderJobStats(stats: JobStats, dialect: Dialect = DEFAULT_DIALECT): string {
  return renderFields(JOB_STATS_FIELDS, stats, dialect);
}

/**
 * Another server's stats YAML (the proxy passing a node's stats-tube or stats-job on) with its
 * string values written as `dialect` writes them, whatever the node's version; other lines are
 * kept byte for byte.
 */
export function restyleStats(yaml: string, fields: Record<string, FieldKind>, dialect: Dialect): string {
  return yaml.replace(/^([a-z-]+): (.*)$/gm, (line, key: string, value: string) => {
    const kind = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (kind !== 'string' && kind !== 'quoted') return line;
    return `${key}: ${formatString(kind, unquote(value), dialect)}`;
  });
}
