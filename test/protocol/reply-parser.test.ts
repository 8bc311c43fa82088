import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_REPLY_LINE_BYTES,
  type Reply,
  ReplyFormatError,
  ReplyParser,
} from '../../src/protocol/reply-parser';

interface Expected {
  word: string;
  line: string;
  body?: Buffer;
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const tricky = Buffer.concat([Buffer.from('a\r\nRESERVED 9 9\r\n\0\r'), allBytes, Buffer.from('\r\n\n')]);
const yaml = Buffer.from('---\nname: default\ncurrent-jobs-ready: 3\n');

/** A stream covering every reply shape, with bodies full of CRLF, NUL and every byte value. */
const STREAM: { bytes: Buffer; replies: Expected[] } = (() => {
  const parts: Buffer[] = [];
  const replies: Expected[] = [];
  const add = (line: string, body?: Buffer): void => {
    parts.push(Buffer.from(`${line}\r\n`, 'latin1'));
    if (body !== undefined) parts.push(body, Buffer.from('\r\n'));
    const word = line.split(' ')[0] ?? '';
    replies.push(body === undefined ? { word, line } : { word, line, body });
  };
  add('INSERTED 1');
  add(`RESERVED 1 ${tricky.length}`, tricky);
  add('RESERVED 2 0', Buffer.alloc(0));
  add('RESERVED 3 1 7', Buffer.from('x')); // x-reserve-wait: + pri
  add('RESERVED 4 1 7 1700000000000375', Buffer.from('y')); // + creation time, µs
  add(`FOUND 9007199254740991 ${allBytes.length}`, allBytes);
  add(`OK ${yaml.length}`, yaml);
  add('TIMED_OUT');
  add('USING a$b_c(d)+e/f;g.h');
  add('BAD_FORMAT');
  add('OK 2', Buffer.from('\r\n'));
  add('OK'); // x-auth's answer: no body
  add('OK stalkd 0.1.0'); // x-hello's
  add('DEADLINE_SOON');
  return { bytes: Buffer.concat(parts), replies };
})();

function parseChunks(chunks: Buffer[]): Reply[] {
  const replies: Reply[] = [];
  const parser = new ReplyParser((reply) => replies.push(reply));
  for (const chunk of chunks) parser.push(chunk);
  assert.equal(parser.idle, true);
  return replies;
}

function assertReplies(actual: Reply[], expected: Expected[]): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((want, i) => {
    const got = actual[i];
    assert.ok(got);
    assert.equal(got.word, want.word);
    assert.equal(got.line, want.line);
    if (want.body === undefined) assert.equal(got.body, undefined);
    else assert.deepEqual(got.body, want.body, `body of reply ${i} (${want.line})`);
  });
}

function parseError(bytes: Buffer): unknown {
  const parser = new ReplyParser(() => undefined);
  try {
    parser.push(bytes);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('client reply parser', () => {
  test('reply parser: whole stream in one chunk', () => {
    assertReplies(parseChunks([STREAM.bytes]), STREAM.replies);
  });

  test('reply parser: byte by byte', () => {
    const chunks = Array.from({ length: STREAM.bytes.length }, (_, i) => STREAM.bytes.subarray(i, i + 1));
    assertReplies(parseChunks(chunks), STREAM.replies);
  });

  test('reply parser: split at every boundary', () => {
    const bytes = STREAM.bytes;
    for (let at = 1; at < bytes.length; at++) {
      assertReplies(parseChunks([bytes.subarray(0, at), bytes.subarray(at)]), STREAM.replies);
    }
  });

  test('reply parser: split at every boundary, each piece read into one reused buffer', () => {
    // As the proxy reads its node connections (net's onread): a reply kept past its read must not
    // point into the buffer the next read overwrites.
    const bytes = STREAM.bytes;
    const readBuffer = Buffer.alloc(bytes.length);
    for (let at = 1; at < bytes.length; at++) {
      const replies: Reply[] = [];
      const parser = new ReplyParser((reply) => replies.push(reply));
      for (const piece of [bytes.subarray(0, at), bytes.subarray(at)]) {
        piece.copy(readBuffer);
        parser.push(readBuffer.subarray(0, piece.length));
        readBuffer.fill(0x7e);
      }
      assert.equal(parser.idle, true);
      assertReplies(replies, STREAM.replies);
    }
  });

  test('reply parser: split at every pair of boundaries of a body reply', () => {
    const bytes = Buffer.from('FOUND 7 4\r\n\r\n\r\n\r\nKICKED 3\r\n');
    const expected = [
      { word: 'FOUND', line: 'FOUND 7 4', body: Buffer.from('\r\n\r\n') },
      { word: 'KICKED', line: 'KICKED 3' },
    ];
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a + 1; b < bytes.length; b++) {
        const chunks = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
        assertReplies(parseChunks(chunks), expected);
      }
    }
  });

  test('reply parser: bodies are copies that do not alias the input chunk', () => {
    const chunk = Buffer.from('RESERVED 1 3\r\nabc\r\n');
    const [reply] = parseChunks([chunk]);
    chunk.fill(0);
    assert.deepEqual(reply?.body, Buffer.from('abc'));
  });

  test('reply parser: a 64 KiB body arriving in 1000-byte pieces', () => {
    const body = Buffer.alloc(65536, 0x0d);
    const bytes = Buffer.concat([
      Buffer.from(`RESERVED 5 ${body.length}\r\n`),
      body,
      Buffer.from('\r\nDELETED\r\n'),
    ]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
    assertReplies(parseChunks(chunks), [
      { word: 'RESERVED', line: `RESERVED 5 ${body.length}`, body },
      { word: 'DELETED', line: 'DELETED' },
    ]);
  });

  test('reply parser: a reply line at the length limit parses, one byte more is an error', () => {
    const longest = `USING ${'a'.repeat(MAX_REPLY_LINE_BYTES - 8)}\r\n`;
    assert.equal(longest.length, MAX_REPLY_LINE_BYTES);
    assertReplies(parseChunks([Buffer.from(longest)]), [{ word: 'USING', line: longest.slice(0, -2) }]);
    const tooLong = Buffer.from(`USING ${'a'.repeat(MAX_REPLY_LINE_BYTES - 7)}\r\n`);
    assert.ok(parseError(tooLong) instanceof ReplyFormatError);
    // Also when the overlong line arrives without any LF yet.
    const parser = new ReplyParser(() => undefined);
    assert.throws(() => {
      for (const byte of tooLong.subarray(0, MAX_REPLY_LINE_BYTES + 1)) parser.push(Buffer.from([byte]));
    }, ReplyFormatError);
  });

  test('reply parser: malformed streams are errors', () => {
    const cases = [
      'INSERTED 1\n', // LF without CR
      'RESERVED 1 3\r\nabcd\r\n', // body not followed by CRLF
      'RESERVED 1 x\r\nabc\r\n', // bad byte count
      'RESERVED 1\r\n', // missing byte count
      'OK 1 2\r\n', // extra token
      'RESERVED 4 1 7 1 2\r\nx\r\n', // more than pri and creation time
      'OK 99999999999\r\n', // more than 10 digits
      'OK 2000000000\r\n', // above the 1 GiB bound
      'OK \r\n', // empty byte count
      'OK -1\r\n', // a sign
      'OK 1e3\r\n', // not decimal digits
      'RESERVED 1  3\r\nabc\r\n', // an empty field where the byte count stands
      'FOUND 1 3 \r\nabc\r\n', // a trailing space: a fourth, empty field
    ];
    for (const text of cases) {
      assert.ok(parseError(Buffer.from(text)) instanceof ReplyFormatError, JSON.stringify(text));
    }
  });
});
