/**
 * Runs one parser input every way it can arrive (ioredis-style): in one chunk, byte by byte, split
 * in two at every boundary, and in a few seeded random multi-splits. Every way must give the same
 * request sequence. After each chunk the requests are pulled until `next()` answers undefined, and
 * one more `next()` with no new input must answer undefined too (the server may poll again).
 * Each way runs twice: with chunks of their own, and as a node or proxy reads a socket — every
 * chunk copied into one reused buffer, `detach()` after the pull, the buffer then overwritten — so
 * a request (or partial input) that still points into a read buffer after its read shows.
 */
import assert from 'node:assert/strict';
import type { Request } from '../../src/protocol/commands';
import type { Dialect } from '../../src/protocol/dialect';
import { RequestParser } from '../../src/protocol/parser';
import { prng } from './engine-fixture';

/** A request with the put body as a latin1 string, so sequences compare with deepEqual. */
export type Parsed = Record<string, unknown>;

export function simplify(r: Request): Parsed {
  return r.op === 'put' || r.op === 'x-import' || r.op === 'x-put'
    ? { ...r, body: r.body.toString('latin1') }
    : { ...r };
}

export function parseChunks(
  chunks: readonly Buffer[],
  maxJobBytes: number,
  dialect: Dialect = '1.13',
  readBuffer?: Buffer,
): Parsed[] {
  const parser = new RequestParser(maxJobBytes, true, dialect);
  const out: Request[] = [];
  for (const chunk of chunks) {
    if (readBuffer) {
      chunk.copy(readBuffer);
      parser.push(readBuffer.subarray(0, chunk.length));
    } else {
      parser.push(chunk);
    }
    for (let r = parser.next(); r !== undefined; r = parser.next()) out.push(r);
    assert.equal(parser.next(), undefined, 'next() without new input must stay undefined');
    if (readBuffer) {
      parser.detach();
      readBuffer.fill(0x7e);
    }
  }
  return out.map(simplify);
}

export function chunkings(input: Buffer): { name: string; chunks: Buffer[] }[] {
  const ways = [
    { name: 'one chunk', chunks: [input] },
    {
      name: 'byte by byte',
      chunks: Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1)),
    },
  ];
  for (let i = 1; i < input.length; i++)
    ways.push({ name: `split at ${i}`, chunks: [input.subarray(0, i), input.subarray(i)] });
  const rand = prng(input.length);
  for (let n = 0; n < 3; n++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const size = 1 + Math.floor(rand() * 40);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    ways.push({ name: `random pieces #${n}`, chunks });
  }
  return ways;
}

/** Asserts that `input` parses to `expected` however it is chunked. */
export function assertParses(
  input: string | Buffer,
  expected: readonly Parsed[],
  maxJobBytes = 65535,
  dialect: Dialect = '1.13',
): void {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const readBuffer = Buffer.alloc(buf.length);
  for (const way of chunkings(buf)) {
    assert.deepEqual(
      parseChunks(way.chunks, maxJobBytes, dialect),
      expected,
      `${way.name}: ${JSON.stringify(input)}`,
    );
    assert.deepEqual(
      parseChunks(way.chunks, maxJobBytes, dialect, readBuffer),
      expected,
      `${way.name}, through one reused read buffer: ${JSON.stringify(input)}`,
    );
  }
}

// Expected requests.
export const BAD: Parsed = { op: 'error', word: 'BAD_FORMAT', count: null };
export const UNKNOWN: Parsed = { op: 'error', word: 'UNKNOWN_COMMAND', count: null };
export const TOO_BIG: Parsed = { op: 'error', word: 'JOB_TOO_BIG', count: 'put' };
export const badCounted = (count: string): Parsed => ({ op: 'error', word: 'BAD_FORMAT', count });
export const USED: Parsed = { op: 'list-tube-used' };

/** A put as parsed: `bodyWithTrailer` is the bytes+2 read after the line. */
export function put(pri: number, delaySecs: number, ttrSecs: number, bodyWithTrailer: string): Parsed {
  return {
    op: 'put',
    pri,
    delayMs: delaySecs * 1000,
    ttrMs: ttrSecs * 1000,
    body: bodyWithTrailer,
    bodyOk: bodyWithTrailer.endsWith('\r\n'),
  };
}
