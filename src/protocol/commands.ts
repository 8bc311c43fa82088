/**
 * The command table and the line → Request decoder, reproducing beanstalkd's dispatch: prefix
 * matching in a fixed order, exact length for argument-less verbs, and each verb's own argument
 * rules (see ../shared/reference/beanstalkd-notes.md §1.1–1.2).
 */
import type { CountedCommand } from '../engine/stats';
import { isValidTubeName, nameSpan, numberRead, readKickBound, readU32, readU64 } from './numbers';

export type ErrorWord = 'BAD_FORMAT' | 'UNKNOWN_COMMAND' | 'JOB_TOO_BIG';

/** Verbs without arguments: the line must be exactly the verb. */
export type BareOp =
  | 'reserve'
  | 'peek-ready'
  | 'peek-delayed'
  | 'peek-buried'
  | 'stats'
  | 'list-tubes'
  | 'list-tube-used'
  | 'list-tubes-watched'
  | 'x-hello'
  | 'x-cancel';

/** A complete request: one line (plus body for put). */
export type Request =
  | { op: 'put'; pri: number; delayMs: number; ttrMs: number; body: Buffer; bodyOk: boolean }
  | { op: 'error'; word: ErrorWord; count: CountedCommand | null }
  | { op: 'quit' }
  | { op: 'use' | 'watch' | 'ignore' | 'stats-tube'; tube: string }
  | { op: 'pause-tube'; tube: string; delayMs: number }
  | { op: 'reserve-with-timeout'; timeoutMs: number }
  | { op: 'reserve-job' | 'delete' | 'touch' | 'peek' | 'kick-job' | 'stats-job' | 'x-unreserve'; id: number }
  | { op: 'release'; id: number; pri: number; delayMs: number }
  | { op: 'bury'; id: number; pri: number }
  | { op: 'kick'; bound: number }
  | { op: BareOp }
  | { op: 'x-reserve-wait'; timeoutMs: number; flags: number };

/** The put line, before its body: what the framing layer needs to read the body. */
export interface PutHeader {
  pri: number;
  delayMs: number;
  ttrMs: number;
  bodyBytes: number;
  /** Bytes after the fourth number (checked only after the size check, as beanstalkd). */
  trailingGarbage: boolean;
}

export type LineResult = Request | { op: 'put-header'; header: PutHeader };

const BAD: Request = { op: 'error', word: 'BAD_FORMAT', count: null };
const UNKNOWN: Request = { op: 'error', word: 'UNKNOWN_COMMAND', count: null };
const bad = (count: CountedCommand): Request => ({ op: 'error', word: 'BAD_FORMAT', count });

/** Largest reserve-with-timeout beanstalkd 1.13 accepts (it stores the u32 in an int). */
const MAX_RESERVE_TIMEOUT_SECS = 2147483647;

type LineDecoder = (buf: Buffer, argStart: number, end: number) => LineResult;

const ASCII = (s: string): Buffer => Buffer.from(s, 'latin1');

function exact(op: BareOp): LineDecoder {
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

/** beanstalkd's table order matters: the first matching prefix wins. */
const TABLE: ReadonlyArray<readonly [Buffer, LineDecoder]> = [
  [ASCII('put '), decodePut],
  [ASCII('peek '), idCommand('peek')],
  [ASCII('peek-ready'), exact('peek-ready')],
  [ASCII('peek-delayed'), exact('peek-delayed')],
  [ASCII('peek-buried'), exact('peek-buried')],
  [ASCII('reserve-with-timeout '), decodeReserveWithTimeout],
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
  // Internal extensions for the proxy (never forwarded from clients).
  [ASCII('x-hello'), exact('x-hello')],
  [ASCII('x-reserve-wait '), decodeReserveWait],
  [ASCII('x-cancel'), exact('x-cancel')],
  [ASCII('x-unreserve '), idCommand('x-unreserve')],
];

/**
 * TABLE split by the first byte of each prefix, table order kept within a bucket: a line can only
 * match prefixes that start with its own first byte, so first-match-wins is unchanged. Matching in
 * JS over at most a few candidates replaces up to 29 native Buffer#compare calls per line (a
 * `delete` used to cost 9 of them; bench/README.md, "hot spots").
 */
const BY_FIRST_BYTE: Array<Array<readonly [Buffer, LineDecoder]> | undefined> = [];
for (const entry of TABLE) {
  const first = entry[0][0] as number;
  let bucket = BY_FIRST_BYTE[first];
  if (!bucket) BY_FIRST_BYTE[first] = bucket = [];
  bucket.push(entry);
}

/** buf[start…] begins with prefix, whose first byte is already known to match. */
function hasPrefix(buf: Buffer, start: number, len: number, prefix: Buffer): boolean {
  if (len < prefix.length) return false;
  for (let i = 1; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/** Decodes one command line `buf[start, end)` (CRLF excluded). */
export function decodeLine(buf: Buffer, start: number, end: number): LineResult {
  // "possible maliciousness": a NUL inside the line.
  for (let i = start; i < end; i++) if (buf[i] === 0) return BAD;
  const len = end - start;
  const bucket = len > 0 ? BY_FIRST_BYTE[buf[start] as number] : undefined;
  if (bucket) {
    for (const [prefix, decode] of bucket) {
      if (hasPrefix(buf, start, len, prefix)) return decode(buf, start + prefix.length, end);
    }
  }
  return UNKNOWN;
}
