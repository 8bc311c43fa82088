/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slice-by-8, table-driven.
 *
 * Node 20's zlib has no crc32, and CRC32C detects more error patterns than zlib's CRC32 for the
 * record sizes we write. Check value: crc32c("123456789") = 0xE3069283.
 */
const POLY = 0x82f63b78;

/** TABLE[k * 256 + b]: CRC of byte b followed by k zero bytes (slice-by-8 tables). */
const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLY : crc >>> 1;
    table[b] = crc >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    let crc = table[b]!;
    for (let k = 1; k < 8; k++) {
      crc = table[crc & 0xff]! ^ (crc >>> 8);
      table[k * 256 + b] = crc >>> 0;
    }
  }
  return table;
}

/**
 * Continues a CRC over buf[start, end). Pass the previous result as `crc` to checksum pieces
 * (crc32c(b, 0, n, crc32c(a, 0, m)) equals the CRC of a ++ b); start with 0.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  const t = TABLE;
  let c = ~crc >>> 0;
  let i = start;
  // Eight bytes per step: each byte looks up the table for its distance from the end of the step.
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + buf[i + 4]!]! ^
      t[2 * 256 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
