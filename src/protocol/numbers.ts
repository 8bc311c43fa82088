/**
 * beanstalkd's number and name readers, over Buffer offsets (no string decoding).
 *
 * read_u32/read_u64 (prot.c): skip spaces, the next byte must be a digit, decimal, overflow of
 * the target width fails. When the field is the last one, the number must end the line; otherwise
 * the next reader decides. Results go through `NumberRead` to avoid an allocation per field.
 */

const SPACE = 0x20;
const ZERO = 0x30;
const NINE = 0x39;
export const U32_MAX = 4294967295;

/** beanstalkd's default -z (JOB_DATA_SIZE_LIMIT_DEFAULT) and its ceiling: larger -z is clamped. */
export const DEFAULT_MAX_JOB_BYTES = 65535;
export const MAX_JOB_BYTES_LIMIT = 1024 * 1024 * 1024;
const U64_MAX_DIGITS = '18446744073709551615';

/** Result slot of the readers: value and the offset just past the digits. */
export const numberRead = { value: 0, end: 0 };

/** Ids above this are valid u64s that no job can have (our ids stay below 2^53). */
export const NO_SUCH_ID = -1;

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= ZERO && byte <= NINE;
}

/** Reads a u32. Returns false on failure. With `last`, the digits must reach `end`. */
export function readU32(buf: Buffer, pos: number, end: number, last: boolean): boolean {
  while (pos < end && buf[pos] === SPACE) pos++;
  if (pos >= end || !isDigit(buf[pos])) return false;
  let value = 0;
  let i = pos;
  for (; i < end && isDigit(buf[i]); i++) {
    value = value * 10 + ((buf[i] as number) - ZERO);
    // Keep accumulating past the limit only to find the end; the result is an overflow anyway.
    if (value > U32_MAX) value = U32_MAX + 1;
  }
  if (value > U32_MAX) return false;
  if (last && i !== end) return false;
  numberRead.value = value;
  numberRead.end = i;
  return true;
}

/**
 * Reads a u64 job id. Values that fit in u64 but exceed Number.MAX_SAFE_INTEGER become NO_SUCH_ID
 * (such a job cannot exist); values over 2^64−1 fail as in beanstalkd.
 */
export function readU64(buf: Buffer, pos: number, end: number, last: boolean): boolean {
  while (pos < end && buf[pos] === SPACE) pos++;
  if (pos >= end || !isDigit(buf[pos])) return false;
  let i = pos;
  while (i < end && buf[i] === ZERO) i++;
  const significantStart = i;
  while (i < end && isDigit(buf[i])) i++;
  const digits = i - significantStart;
  if (last && i !== end) return false;
  if (digits > 20) return false;
  if (digits === 20 && buf.toString('latin1', significantStart, i) > U64_MAX_DIGITS) return false;
  let value = NO_SUCH_ID;
  if (digits <= 16) {
    value = 0;
    for (let k = significantStart; k < i; k++) value = value * 10 + ((buf[k] as number) - ZERO);
    if (value > Number.MAX_SAFE_INTEGER) value = NO_SUCH_ID;
  }
  numberRead.value = value;
  numberRead.end = i;
  return true;
}

/** C isspace(): space, \t, \n, \v, \f, \r. */
function isCSpace(byte: number | undefined): boolean {
  return byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d);
}

const TWO_64 = 1n << 64n;

/**
 * `kick`'s reader: strtoul into a 32-bit unsigned (so `-1` kicks everything, 2^32 kicks none),
 * trailing bytes ignored. Returns the bound or -1 for BAD_FORMAT.
 */
export function readKickBound(buf: Buffer, pos: number, end: number): number {
  while (pos < end && isCSpace(buf[pos])) pos++;
  let negative = false;
  if (buf[pos] === 0x2b || buf[pos] === 0x2d) {
    negative = buf[pos] === 0x2d;
    pos++;
  }
  let i = pos;
  while (i < end && isDigit(buf[i])) i++;
  if (i === pos) return -1;
  let value = BigInt(buf.toString('latin1', pos, i));
  if (value >= TWO_64) return -1; // ERANGE
  if (negative) value = (TWO_64 - value) % TWO_64;
  return Number(value & 0xffffffffn);
}

/** Bytes allowed in tube names: A-Z a-z 0-9 - + / ; . $ _ ( ) */
const NAME_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()')
  NAME_CHAR[c.charCodeAt(0)] = 1;

export const MAX_TUBE_NAME_BYTES = 200;

/** Length of the run of name bytes starting at `pos`. */
export function nameSpan(buf: Buffer, pos: number, end: number): number {
  let i = pos;
  while (i < end && NAME_CHAR[buf[i] as number] === 1) i++;
  return i - pos;
}

/** beanstalkd's is_valid_tube over the whole range: 1–200 name bytes, not starting with '-'. */
export function isValidTubeName(buf: Buffer, pos: number, end: number): boolean {
  const len = end - pos;
  return len > 0 && len <= MAX_TUBE_NAME_BYTES && buf[pos] !== 0x2d && nameSpan(buf, pos, end) === len;
}
