/**
 * Argument checks for client commands. Bad arguments are programmer errors: they throw at once
 * instead of sending a line the server would reject (or, for CR/LF, one that breaks framing).
 */

/** pri, delay, ttr, timeouts and kick bounds are u32 on the wire. */
const MAX_U32 = 0xffffffff;

export function checkU32(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
    throw new RangeError(`${what} must be an integer 0..4294967295, got ${value}`);
  }
  return value;
}

export function checkId(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`job id must be a safe integer >= 0, got ${value}`);
  return value;
}

/** The server validates names; we only refuse what would break framing. */
export function checkTube(name: string): string {
  if (typeof name !== 'string' || /[\r\n]/.test(name))
    throw new TypeError(`bad tube name ${JSON.stringify(name)}`);
  return name;
}
