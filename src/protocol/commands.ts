/**
 * The command table and the line → Request decoder, reproducing beanstalkd's dispatch: the first
 * entry of a fixed, ordered table whose prefix starts the line wins (so `reserveX` matches
 * `reserve` and fails its exact-length check: BAD_FORMAT; `quitX` is `quit`); verbs without
 * arguments must be exactly the verb; each verb reads its own arguments with read_u32/read_u64
 * (numbers.ts). docs/node.md ("Parsing") lists the consequences a client can see.
 *
 * The x-* extensions (stalkd nodes answer them for the proxy) are decoded only when the parser is
 * built with `extensions`; without, they are UNKNOWN_COMMAND as on beanstalkd (the proxy's client
 * side).
 */
import type { Dialect } from './dialect';
import { isValidTubeName, nameSpan, numberRead, readKickBound, readU32, readU64 } from './numbers';
import type { CountedCommand } from './stats';

export type ErrorWord = 'BAD_FORMAT' | 'UNKNOWN_COMMAND' | 'JOB_TOO_BIG';

/** Verbs without arguments: the line must be exactly the verb. */
export const BARE_OPS = [
  'reserve',
  'peek-ready',
  'peek-delayed',
  'peek-buried',
  'stats',
  'list-tubes',
  'list-tube-used',
  'list-tubes-watched',
] as const;
export type BareOp = (typeof BARE_OPS)[number];

/** A complete request: one line (plus body for put). */
export type Request =
  | { op: 'put'; pri: number; delayMs: number; ttrMs: number; body: Buffer; bodyOk: boolean }
  | { op: 'error'; word: ErrorWord; count: CountedCommand | null }
  | { op: 'quit' }
  | { op: 'use' | 'watch' | 'ignore' | 'stats-tube'; tube: string }
  | { op: 'pause-tube'; tube: string; delayMs: number }
  | { op: 'reserve-with-timeout'; timeoutMs: number }
  | { op: 'reserve-job' | 'delete' | 'touch' | 'peek' | 'kick-job' | 'stats-job'; id: number }
  | { op: 'release'; id: number; pri: number; delayMs: number }
  | { op: 'bury'; id: number; pri: number }
  | { op: 'kick'; bound: number }
  | { op: BareOp }
  // stalkd's extensions for the proxy (decoded only with `extensions`).
  | { op: 'x-hello' | 'x-cancel' }
  | { op: 'x-unreserve'; id: number }
  | { op: 'x-reserve-wait'; timeoutMs: number; flags: number }
  // A put into the named tube, the connection's `use` untouched (the proxy's put lane).
  | { op: 'x-put'; tube: string; pri: number; delayMs: number; ttrMs: number; body: Buffer; bodyOk: boolean }
  // Moving jobs between nodes exactly once (docs/migration.md, "Moving jobs").
  | { op: 'x-move-out'; id: number; dest: string }
  | { op: 'x-move-done'; id: number }
  | { op: 'x-list-moving' }
  | ({
      op: 'x-import';
      pri: number;
      delayMs: number;
      ttrMs: number;
      body: Buffer;
      bodyOk: boolean;
    } & ImportOrigin)
  // Replication (docs/replication.md): between the members of a shard, and from operators/proxies.
  | { op: 'x-role' }
  | { op: 'x-auth'; token: string }
  | { op: 'x-promote'; term: number; force: boolean }
  | { op: 'x-fence'; term: number; lastTerm: number; lastLsn: number; member: string }
  | ({ op: 'x-replicate' } & ReplicateRequest);

/** `x-replicate`'s arguments: what a standby says about itself and its log (docs/replication.md). */
export interface ReplicateRequest {
  /** The shard id it holds data of, or '-' (none yet). */
  shard: string;
  member: string;
  knownTerm: number;
  lastTerm: number;
  lastLsn: number;
  /** Where its log ends: segment index and offset. */
  index: number;
  offset: number;
  /** host:port it is reached at, or '-'. */
  advertise: string;
}

/** The Request variant whose op union contains K (`RequestOf<'use'>` has `tube`). */
export type RequestOf<K extends Request['op']> = Request extends infer R
  ? R extends { op: infer O }
    ? K extends O
      ? R
      : never
    : never
  : never;

/** `x-import`'s own arguments: where the job comes from and the state it arrives in. */
export interface ImportOrigin {
  node: string;
  originId: number;
  state: 'ready' | 'delayed' | 'buried';
}

/** The put line (or x-import's), before its body: what the framing layer needs to read the body. */
export interface PutHeader {
  /** x-import: the line was `x-import …`, not `put …`. */
  origin?: ImportOrigin;
  /** x-put: the tube the line names. */
  tube?: string;
  pri: number;
  delayMs: number;
  ttrMs: number;
  bodyBytes: number;
  /** Bytes after the fourth number (checked only after the size check, as beanstalkd). */
  trailingGarbage: boolean;
}

export type LineResult = Request | { op: 'put-header'; header: PutHeader };

/**
 * `x-reserve-wait <secs> <flags>`: how the wait counts (on exactly one node, so merged stats show
 * one command) and whether it may take a job.
 */
export const ReserveWaitFlag = {
  CountReserve: 1,
  CountReserveWithTimeout: 2,
  /** Take no job: only report DEADLINE_SOON or TIMED_OUT. */
  DeadlineOnly: 4,
  /**
   * RESERVED also carries the job's creation time, µs since the epoch (`RESERVED <id> <bytes>
   * <pri> <createdUs>`): the proxy's FIFO tie-break across nodes. A node too old to know the flag
   * ignores it and answers without the field, so old and new nodes and proxies mix.
   */
  WithCreated: 8,
} as const;

/** `x-reserve-wait` seconds meaning "no timeout" (u32 max, ~136 years). */
export const RESERVE_WAIT_FOREVER_SECS = 4294967295;

const BAD: Request = { op: 'error', word: 'BAD_FORMAT', count: null };
const UNKNOWN: Request = { op: 'error', word: 'UNKNOWN_COMMAND', count: null };
const bad = (count: CountedCommand): Request => ({ op: 'error', word: 'BAD_FORMAT', count });

/** Largest reserve-with-timeout beanstalkd 1.13 accepts (it stores the u32 in an int). */
const MAX_RESERVE_TIMEOUT_SECS = 2147483647;

type LineDecoder = (buf: Buffer, argStart: number, end: number) => LineResult;

const ASCII = (s: string): Buffer => Buffer.from(s, 'latin1');

function exact(op: BareOp | 'x-hello' | 'x-cancel' | 'x-role' | 'x-list-moving'): LineDecoder {
  const request = { op } as Request;
  return (_buf, argStart, end) => (argStart === end ? request : BAD);
}

function idCommand(op: Extract<Request, { id: number }>['op'] & string): LineDecoder {
  return (buf, argStart, end) =>
    readU64(buf, argStart, end, true) ? ({ op, id: numberRead.value } as Request) : BAD;
}

function tubeCommand(op: 'use' | 'watch' | 'ignore' | 'stats-tube'): LineDecoder {
  return (buf, argStart, end) =>
    isValidTubeName(buf, argStart, end) ? { op, tube: buf.toString('latin1', argStart, end) } : BAD;
}

function decodePut(buf: Buffer, argStart: number, end: number): LineResult {
  if (!readU32(buf, argStart, end, false)) return BAD;
  const pri = numberRead.value;
  if (!readU32(buf, numberRead.end, end, false)) return BAD;
  const delaySecs = numberRead.value;
  if (!readU32(buf, numberRead.end, end, false)) return BAD;
  const ttrSecs = numberRead.value;
  if (!readU32(buf, numberRead.end, end, false)) return BAD;
  const header: PutHeader = {
    pri,
    delayMs: delaySecs * 1000,
    ttrMs: ttrSecs * 1000,
    bodyBytes: numberRead.value,
    trailingGarbage: numberRead.end !== end,
  };
  return { op: 'put-header', header };
}

/**
 * `x-put <tube> <pri> <delay> <ttr> <bytes>`: put's numbers after one valid tube name, read as put
 * reads them (a bad number is BAD_FORMAT before the body; so is a bad name).
 */
function decodeXPut(buf: Buffer, argStart: number, end: number): LineResult {
  const nameEnd = argStart + nameSpan(buf, argStart, end);
  if (buf[nameEnd] !== 0x20 || !isValidTubeName(buf, argStart, nameEnd)) return BAD;
  const result = decodePut(buf, nameEnd, end);
  if (result.op === 'put-header') result.header.tube = buf.toString('latin1', argStart, nameEnd);
  return result;
}

function decodeRelease(buf: Buffer, argStart: number, end: number): LineResult {
  if (!readU64(buf, argStart, end, false)) return BAD;
  const id = numberRead.value;
  if (!readU32(buf, numberRead.end, end, false)) return BAD;
  const pri = numberRead.value;
  if (!readU32(buf, numberRead.end, end, true)) return BAD;
  return { op: 'release', id, pri, delayMs: numberRead.value * 1000 };
}

function decodeBury(buf: Buffer, argStart: number, end: number): LineResult {
  if (!readU64(buf, argStart, end, false)) return BAD;
  const id = numberRead.value;
  if (!readU32(buf, numberRead.end, end, true)) return BAD;
  return { op: 'bury', id, pri: numberRead.value };
}

function decodeReserveWithTimeout(buf: Buffer, argStart: number, end: number): LineResult {
  // 1.13: u32 reader, junk after the digits tolerated, values above INT_MAX refused.
  if (!readU32(buf, argStart, end, false) || numberRead.value > MAX_RESERVE_TIMEOUT_SECS) return BAD;
  return { op: 'reserve-with-timeout', timeoutMs: numberRead.value * 1000 };
}

/** C's isspace: space, \t, \n, \v, \f, \r. */
const isCSpace = (byte: number | undefined): boolean =>
  byte === 0x20 || (byte !== undefined && byte >= 9 && byte <= 13);

/** A C long (64 bits) holds magnitudes up to this; strtol answers ERANGE beyond. */
const LONG_MAX = 9223372036854775807n;

/**
 * 1.12: `strtol(arg, &end, 10)` with only errno checked, the result stored in an `int`. White
 * space and one sign may lead; no digits read as 0 (`abc`, `0x`, an empty argument); anything
 * after the digits is ignored; only a number beyond a 64-bit long is BAD_FORMAT (ERANGE). The long
 * keeps its low 32 bits as an int, and a negative int waits with no timeout (`-1`, 4294967295).
 * No timeout is MAX_RESERVE_TIMEOUT_SECS here (68 years): the same wait on every path, and a
 * number 1.13 nodes accept when the proxy passes it on.
 */
function decodeReserveWithTimeout112(buf: Buffer, argStart: number, end: number): LineResult {
  let pos = argStart;
  while (pos < end && isCSpace(buf[pos])) pos++;
  const negative = buf[pos] === 0x2d;
  if (pos < end && (negative || buf[pos] === 0x2b)) pos++;
  while (pos < end && buf[pos] === 0x30) pos++; // leading zeros change nothing
  const digitsAt = pos;
  while (pos < end && (buf[pos] as number) >= 0x30 && (buf[pos] as number) <= 0x39) pos++;
  const digits = pos - digitsAt;
  let secs: number;
  if (digits <= 9) {
    // Below 10^9 < 2^31: the int is the number itself.
    secs = digits === 0 ? 0 : Number(buf.toString('latin1', digitsAt, pos));
    if (negative && secs > 0) secs = -secs;
  } else {
    const magnitude = digits > 19 ? LONG_MAX + 2n : BigInt(buf.toString('latin1', digitsAt, pos));
    if (magnitude > (negative ? LONG_MAX + 1n : LONG_MAX)) return BAD;
    secs = Number(BigInt.asIntN(32, negative ? -magnitude : magnitude));
  }
  const timeoutSecs = secs < 0 ? MAX_RESERVE_TIMEOUT_SECS : secs;
  return { op: 'reserve-with-timeout', timeoutMs: timeoutSecs * 1000 };
}

function decodeKick(buf: Buffer, argStart: number, end: number): LineResult {
  const bound = readKickBound(buf, argStart, end);
  return bound < 0 ? BAD : { op: 'kick', bound };
}

function decodePauseTube(buf: Buffer, argStart: number, end: number): LineResult {
  // The name is a run of name bytes after any spaces, then the delay must end the line. Only then
  // is cmd-pause-tube counted; the name's length and leading '-' are checked after counting.
  let pos = argStart;
  while (pos < end && buf[pos] === 0x20) pos++;
  const len = nameSpan(buf, pos, end);
  if (len === 0 || !readU32(buf, pos + len, end, true)) return BAD;
  if (!isValidTubeName(buf, pos, pos + len)) return bad('pause-tube');
  return { op: 'pause-tube', tube: buf.toString('latin1', pos, pos + len), delayMs: numberRead.value * 1000 };
}

function decodeReserveWait(buf: Buffer, argStart: number, end: number): LineResult {
  if (!readU32(buf, argStart, end, false)) return BAD;
  const timeoutSecs = numberRead.value;
  if (!readU32(buf, numberRead.end, end, true)) return BAD;
  return { op: 'x-reserve-wait', timeoutMs: timeoutSecs * 1000, flags: numberRead.value };
}

/** Numbers of the replication commands: decimal, at most 16 digits (safe integers). */
const COUNT = /^\d{1,16}$/;
/** Shard and member ids: 16 hex digits. */
const MEMBER_ID = /^[0-9a-f]{16}$/;
/** Tokens and addresses: printable, no space. */
const WORD_ARG = /^[\x21-\x7e]{1,128}$/;

/** The line's arguments split at single spaces, or undefined when their count is not `n`. */
function args(buf: Buffer, argStart: number, end: number, min: number, max = min): string[] | undefined {
  const parts = buf.toString('latin1', argStart, end).split(' ');
  return parts.length >= min && parts.length <= max ? parts : undefined;
}

function decodeAuth(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 1);
  return a && WORD_ARG.test(a[0] as string) ? { op: 'x-auth', token: a[0] as string } : BAD;
}

function decodePromote(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 1, 2);
  if (!a || !COUNT.test(a[0] as string) || (a[1] !== undefined && a[1] !== 'force')) return BAD;
  return { op: 'x-promote', term: Number(a[0]), force: a[1] === 'force' };
}

function decodeFence(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 4);
  if (a === undefined) return BAD;
  if (!a.slice(0, 3).every((v) => COUNT.test(v)) || !MEMBER_ID.test(a[3] as string)) return BAD;
  const [term, lastTerm, lastLsn] = a.map(Number) as [number, number, number];
  return { op: 'x-fence', term, lastTerm, lastLsn, member: a[3] as string };
}

/** `x-move-out <id> <dest>`. */
function decodeMoveOut(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 2);
  if (!a || !COUNT.test(a[0] as string) || Number(a[0]) < 1 || !WORD_ARG.test(a[1] as string)) return BAD;
  return { op: 'x-move-out', id: Number(a[0]), dest: a[1] as string };
}

const IMPORT_STATES: ReadonlySet<string> = new Set(['ready', 'delayed', 'buried']);

/** `x-import <node> <origin-id> <pri> <delay-ms> <ttr-ms> <state> <bytes>`, then the body. */
function decodeImport(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 7);
  if (!a) return BAD;
  const [node = '', originId = '', pri = '', delayMs = '', ttrMs = '', state = '', bytes = ''] = a;
  if (!WORD_ARG.test(node) || !IMPORT_STATES.has(state)) return BAD;
  if (![originId, pri, delayMs, ttrMs, bytes].every((v) => COUNT.test(v)) || Number(originId) < 1) return BAD;
  if (Number(pri) > 4294967295 || Number(bytes) > 4294967295) return BAD;
  const header: PutHeader = {
    pri: Number(pri),
    delayMs: Number(delayMs),
    ttrMs: Number(ttrMs),
    bodyBytes: Number(bytes),
    trailingGarbage: false,
    origin: { node, originId: Number(originId), state: state as ImportOrigin['state'] },
  };
  return { op: 'put-header', header };
}

function decodeReplicate(buf: Buffer, argStart: number, end: number): LineResult {
  const a = args(buf, argStart, end, 8);
  if (!a) return BAD;
  const [shard, member, knownTerm, lastTerm, lastLsn, index, offset, advertise] = a as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const numbers = [knownTerm, lastTerm, lastLsn, index, offset];
  if ((shard !== '-' && !MEMBER_ID.test(shard)) || !MEMBER_ID.test(member)) return BAD;
  if (!numbers.every((v) => COUNT.test(v)) || !WORD_ARG.test(advertise)) return BAD;
  return {
    op: 'x-replicate',
    shard,
    member,
    knownTerm: Number(knownTerm),
    lastTerm: Number(lastTerm),
    lastLsn: Number(lastLsn),
    index: Number(index),
    offset: Number(offset),
    advertise,
  };
}

/** beanstalkd's table order matters: the first matching prefix wins. */
const tableWith = (reserveWithTimeout: LineDecoder): ReadonlyArray<readonly [Buffer, LineDecoder]> => [
  [ASCII('put '), decodePut],
  [ASCII('peek '), idCommand('peek')],
  [ASCII('peek-ready'), exact('peek-ready')],
  [ASCII('peek-delayed'), exact('peek-delayed')],
  [ASCII('peek-buried'), exact('peek-buried')],
  [ASCII('reserve-with-timeout '), reserveWithTimeout],
  [ASCII('reserve-job '), idCommand('reserve-job')],
  [ASCII('reserve'), exact('reserve')],
  [ASCII('delete '), idCommand('delete')],
  [ASCII('release '), decodeRelease],
  [ASCII('bury '), decodeBury],
  [ASCII('kick '), decodeKick],
  [ASCII('kick-job '), idCommand('kick-job')],
  [ASCII('touch '), idCommand('touch')],
  [ASCII('stats-job '), idCommand('stats-job')],
  [ASCII('stats-tube '), tubeCommand('stats-tube')],
  [ASCII('stats'), exact('stats')],
  [ASCII('use '), tubeCommand('use')],
  [ASCII('watch '), tubeCommand('watch')],
  [ASCII('ignore '), tubeCommand('ignore')],
  [ASCII('list-tubes-watched'), exact('list-tubes-watched')],
  [ASCII('list-tube-used'), exact('list-tube-used')],
  [ASCII('list-tubes'), exact('list-tubes')],
  [ASCII('quit'), () => ({ op: 'quit' })],
  [ASCII('pause-tube'), decodePauseTube],
];

/** stalkd's extensions for the proxy (docs/proxy.md, "Node protocol extensions"). */
const EXTENSIONS: ReadonlyArray<readonly [Buffer, LineDecoder]> = [
  [ASCII('x-hello'), exact('x-hello')],
  [ASCII('x-reserve-wait '), decodeReserveWait],
  [ASCII('x-cancel'), exact('x-cancel')],
  [ASCII('x-unreserve '), idCommand('x-unreserve')],
  [ASCII('x-role'), exact('x-role')],
  [ASCII('x-auth '), decodeAuth],
  [ASCII('x-promote '), decodePromote],
  [ASCII('x-fence '), decodeFence],
  [ASCII('x-replicate '), decodeReplicate],
  [ASCII('x-move-out '), decodeMoveOut],
  [ASCII('x-move-done '), idCommand('x-move-done')],
  [ASCII('x-list-moving'), exact('x-list-moving')],
  [ASCII('x-import '), decodeImport],
  [ASCII('x-put '), decodeXPut],
];

type Buckets = Array<Array<readonly [Buffer, LineDecoder]> | undefined>;

/**
 * A table split by the first byte of each prefix, table order kept within a bucket: a line can only
 * match prefixes that start with its own first byte, so first-match-wins is unchanged. Matching in
 * JS over at most a few candidates replaces up to 29 native Buffer#compare calls per line (a
 * `delete` used to cost 9 of them; bench/README.md, "hot spots").
 */
function byFirstByte(table: ReadonlyArray<readonly [Buffer, LineDecoder]>): Buckets {
  const buckets: Buckets = [];
  for (const entry of table) {
    const first = entry[0][0] as number;
    let bucket = buckets[first];
    if (!bucket) buckets[first] = bucket = [];
    bucket.push(entry);
  }
  return buckets;
}

const TABLE = tableWith(decodeReserveWithTimeout);
const TABLE_112 = tableWith(decodeReserveWithTimeout112);
/** By dialect: without, and with the x-* extensions. */
const BUCKETS: Record<Dialect, readonly [Buckets, Buckets]> = {
  '1.13': [byFirstByte(TABLE), byFirstByte([...TABLE, ...EXTENSIONS])],
  '1.12': [byFirstByte(TABLE_112), byFirstByte([...TABLE_112, ...EXTENSIONS])],
};

/** buf[start…] begins with prefix, whose first byte is already known to match. */
function hasPrefix(buf: Buffer, start: number, len: number, prefix: Buffer): boolean {
  if (len < prefix.length) return false;
  for (let i = 1; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/**
 * Decodes one command line `buf[start, end)` (CRLF excluded); x-* lines only with `extensions`;
 * `dialect` picks 1.12's or 1.13's reading of reserve-with-timeout (dialect.ts).
 */
export function decodeLine(
  buf: Buffer,
  start: number,
  end: number,
  extensions = true,
  dialect: Dialect = '1.13',
): LineResult {
  // "possible maliciousness": a NUL inside the line.
  for (let i = start; i < end; i++) if (buf[i] === 0) return BAD;
  const len = end - start;
  const bucket = len > 0 ? BUCKETS[dialect][extensions ? 1 : 0][buf[start] as number] : undefined;
  if (bucket) {
    for (const [prefix, decode] of bucket) {
      if (hasPrefix(buf, start, len, prefix)) return decode(buf, start + prefix.length, end);
    }
  }
  return UNKNOWN;
}
