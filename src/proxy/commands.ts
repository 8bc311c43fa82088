/**
 * The beanstalkd command grammar as the proxy needs it (reference notes §1.1–1.2): prefix dispatch
 * over beanstalkd's ordered table, then per-verb argument checks with read_u32/read_u64 semantics:
 * leading spaces skipped, a digit required, overflow of the field width fails, and the last field
 * must end the line. Tube-name arguments of use/watch/ignore/stats-tube are the whole rest of the
 * line. `kick` keeps its raw argument: the owner node parses it (strtoul quirks included).
 */

export const Verb = {
  Put: 'put',
  Peek: 'peek',
  PeekReady: 'peek-ready',
  PeekDelayed: 'peek-delayed',
  PeekBuried: 'peek-buried',
  ReserveWithTimeout: 'reserve-with-timeout',
  ReserveJob: 'reserve-job',
  Reserve: 'reserve',
  Delete: 'delete',
  Release: 'release',
  Bury: 'bury',
  Kick: 'kick',
  KickJob: 'kick-job',
  Touch: 'touch',
  StatsJob: 'stats-job',
  StatsTube: 'stats-tube',
  Stats: 'stats',
  Use: 'use',
  Watch: 'watch',
  Ignore: 'ignore',
  ListTubesWatched: 'list-tubes-watched',
  ListTubeUsed: 'list-tube-used',
  ListTubes: 'list-tubes',
  Quit: 'quit',
  PauseTube: 'pause-tube',
} as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

export interface Command {
  verb: Verb;
  /** Tube argument (use, watch, ignore, stats-tube, pause-tube). */
  tube: string;
  /** Job id digits exactly as sent (id commands). */
  idDigits: string;
  /** Numeric arguments in order: put pri/delay/ttr/bytes, release pri/delay, bury pri, rwt secs, pause delay. */
  nums: number[];
  /** Raw argument text (kick). */
  arg: string;
  /** put only: junk after the byte count (BAD_FORMAT once the JOB_TOO_BIG check passed). */
  trailingJunk: boolean;
  /** put only: body including its CRLF, filled in by the reader. */
  body?: Buffer;
}

export type ParseResult =
  | { kind: 'command'; command: Command }
  | { kind: 'error'; reply: 'BAD_FORMAT' | 'UNKNOWN_COMMAND'; countedAs?: string };

const U32_MAX = 4294967295;
const U64_MAX = 18446744073709551615n;
const INT_MAX = 2147483647;
const TUBE_NAME = /^[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}$/;

export function isValidTubeName(name: string): boolean {
  return TUBE_NAME.test(name);
}

interface NumberToken {
  digits: string;
  end: number;
}

/** Skips spaces, then reads decimal digits; null when no digit follows. */
function readDigits(s: string, pos: number): NumberToken | null {
  while (s.charCodeAt(pos) === 32) pos++;
  const start = pos;
  while (pos < s.length) {
    const c = s.charCodeAt(pos);
    if (c < 48 || c > 57) break;
    pos++;
  }
  return pos === start ? null : { digits: s.slice(start, pos), end: pos };
}

function fitsU64(digits: string): boolean {
  return digits.length < 20 || BigInt(digits) <= U64_MAX;
}

function digitsValue(digits: string): number {
  return digits.length > 15 ? Number(BigInt(digits)) : Number(digits);
}

const BAD: ParseResult = { kind: 'error', reply: 'BAD_FORMAT' };
const UNKNOWN: ParseResult = { kind: 'error', reply: 'UNKNOWN_COMMAND' };

function makeCommand(verb: Verb): Command {
  return { verb, tube: '', idDigits: '', nums: [], arg: '', trailingJunk: false };
}

function ok(command: Command): ParseResult {
  return { kind: 'command', command };
}

/** `<verb> <u32>…`: reads `count` u32 fields from `pos`; the last must end the line unless `loose`. */
function readU32s(s: string, pos: number, count: number, into: number[], loose = false): number | null {
  for (let i = 0; i < count; i++) {
    const tok = readDigits(s, pos);
    if (!tok) return null;
    const value = digitsValue(tok.digits);
    if (value > U32_MAX) return null;
    into.push(value);
    pos = tok.end;
  }
  return loose || pos === s.length ? pos : null;
}

function parseIdCommand(verb: Verb, s: string, start: number, extraU32s: number): ParseResult {
  const command = makeCommand(verb);
  const tok = readDigits(s, start);
  if (!tok || !fitsU64(tok.digits)) return BAD;
  command.idDigits = tok.digits;
  if (extraU32s === 0) return tok.end === s.length ? ok(command) : BAD;
  return readU32s(s, tok.end, extraU32s, command.nums) === null ? BAD : ok(command);
}

function parseTubeCommand(verb: Verb, s: string, start: number): ParseResult {
  const name = s.slice(start);
  if (!isValidTubeName(name)) return BAD;
  const command = makeCommand(verb);
  command.tube = name;
  return ok(command);
}

function parseExact(verb: Verb, s: string): ParseResult {
  return s.length === verb.length ? ok(makeCommand(verb)) : BAD;
}

function parsePut(s: string, start: number): ParseResult {
  const command = makeCommand(Verb.Put);
  const end = readU32s(s, start, 4, command.nums, true);
  if (end === null) return BAD;
  command.trailingJunk = end !== s.length;
  return ok(command);
}

/** 1.13 rules: u32 reader, values above INT_MAX rejected, junk after the digits tolerated. */
function parseReserveWithTimeout(s: string, start: number): ParseResult {
  const tok = readDigits(s, start);
  if (!tok) return BAD;
  const seconds = digitsValue(tok.digits);
  if (seconds > INT_MAX) return BAD;
  const command = makeCommand(Verb.ReserveWithTimeout);
  command.nums.push(seconds);
  return ok(command);
}

/** pause-tube tokenises: spaces, name, spaces, u32 delay ending the line. */
function parsePauseTube(s: string, start: number): ParseResult {
  let pos = start;
  while (s.charCodeAt(pos) === 32) pos++;
  let nameEnd = s.indexOf(' ', pos);
  if (nameEnd < 0) nameEnd = s.length;
  const name = s.slice(pos, nameEnd);
  const command = makeCommand(Verb.PauseTube);
  if (!isValidTubeName(name) || readU32s(s, nameEnd, 1, command.nums) === null) {
    return { kind: 'error', reply: 'BAD_FORMAT', countedAs: 'cmd-pause-tube' };
  }
  command.tube = name;
  return ok(command);
}

function parseKick(s: string, start: number): ParseResult {
  const command = makeCommand(Verb.Kick);
  command.arg = s.slice(start);
  return ok(command);
}

type LineParser = (s: string, start: number) => ParseResult;

/** beanstalkd's dispatch table, in its order: the first matching prefix wins. */
const TABLE: ReadonlyArray<readonly [string, LineParser]> = [
  ['put ', parsePut],
  ['peek ', (s, i) => parseIdCommand(Verb.Peek, s, i, 0)],
  ['peek-ready', (s) => parseExact(Verb.PeekReady, s)],
  ['peek-delayed', (s) => parseExact(Verb.PeekDelayed, s)],
  ['peek-buried', (s) => parseExact(Verb.PeekBuried, s)],
  ['reserve-with-timeout ', parseReserveWithTimeout],
  ['reserve-job ', (s, i) => parseIdCommand(Verb.ReserveJob, s, i, 0)],
  ['reserve', (s) => parseExact(Verb.Reserve, s)],
  ['delete ', (s, i) => parseIdCommand(Verb.Delete, s, i, 0)],
  ['release ', (s, i) => parseIdCommand(Verb.Release, s, i, 2)],
  ['bury ', (s, i) => parseIdCommand(Verb.Bury, s, i, 1)],
  ['kick ', parseKick],
  ['kick-job ', (s, i) => parseIdCommand(Verb.KickJob, s, i, 0)],
  ['touch ', (s, i) => parseIdCommand(Verb.Touch, s, i, 0)],
  ['stats-job ', (s, i) => parseIdCommand(Verb.StatsJob, s, i, 0)],
  ['stats-tube ', (s, i) => parseTubeCommand(Verb.StatsTube, s, i)],
  ['stats', (s) => parseExact(Verb.Stats, s)],
  ['use ', (s, i) => parseTubeCommand(Verb.Use, s, i)],
  ['watch ', (s, i) => parseTubeCommand(Verb.Watch, s, i)],
  ['ignore ', (s, i) => parseTubeCommand(Verb.Ignore, s, i)],
  ['list-tubes-watched', (s) => parseExact(Verb.ListTubesWatched, s)],
  ['list-tube-used', (s) => parseExact(Verb.ListTubeUsed, s)],
  ['list-tubes', (s) => parseExact(Verb.ListTubes, s)],
  ['quit', () => ok(makeCommand(Verb.Quit))],
  ['pause-tube', parsePauseTube],
];

/** Parses one command line (without its CRLF). */
export function parseLine(line: Buffer): ParseResult {
  if (line.indexOf(0) >= 0) return BAD;
  const s = line.toString('latin1');
  for (const [prefix, parse] of TABLE) {
    if (s.startsWith(prefix)) return parse(s, prefix.length);
  }
  return UNKNOWN;
}
