/**
 * RequestParser framing: lines, put bodies, JOB_TOO_BIG discards, line limits and bufferedBytes.
 * Every input runs every way it can be chunked (see support/parse-three-ways). Expectations for the
 * odd cases were checked against Debian's beanstalkd 1.12 on a live socket.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestParser } from '../../src/protocol/parser';
import {
  assertParses,
  BAD,
  badCounted,
  put,
  simplify,
  TOO_BIG,
  UNKNOWN,
  USED,
} from '../support/parse-three-ways';

const USED_LINE = 'list-tube-used\r\n';

describe('parser framing', () => {
  test('framing: pipelined commands come out in order', () => {
    assertParses('use foo\r\nput 1 2 3 5\r\nhello\r\nlist-tube-used\r\nreserve\r\n', [
      { op: 'use', tube: 'foo' },
      put(1, 2, 3, 'hello\r\n'),
      USED,
      { op: 'reserve' },
    ]);
  });

  test('framing: a put body may hold CRLF and NUL bytes', () => {
    assertParses(`put 1 0 60 6\r\na\r\nb\0c\r\n${USED_LINE}`, [put(1, 0, 60, 'a\r\nb\0c\r\n'), USED]);
  });

  test('framing: a 0-byte body', () => {
    assertParses(`put 0 0 0 0\r\n\r\n${USED_LINE}`, [put(0, 0, 0, '\r\n'), USED]);
  });

  test('framing: the largest u32 values for pri, delay and ttr', () => {
    assertParses('put 4294967295 4294967295 4294967295 1\r\nx\r\n', [
      put(4294967295, 4294967295, 4294967295, 'x\r\n'),
    ]);
  });

  test('framing: a body without its CRLF trailer → EXPECTED_CRLF after bytes+2; the rest is the next line', () => {
    assertParses(`put 0 0 0 1\r\nabc\r\n${USED_LINE}`, [put(0, 0, 0, 'abc'), UNKNOWN, USED]);
    assertParses(`put 0 0 0 2\r\nab\n\r${USED_LINE}`, [put(0, 0, 0, 'ab\n\r'), USED]);
  });

  test('framing: a put line that fails to parse is BAD_FORMAT and its body is read as a command', () => {
    // Trailing bytes after the size: counted as a put (beanstalkd checks them after the size).
    assertParses(`put 0 0 0 1 \r\nx\r\n${USED_LINE}`, [badCounted('put'), UNKNOWN, USED]);
    assertParses(`put 0 0 0 1x\r\nx\r\n${USED_LINE}`, [badCounted('put'), UNKNOWN, USED]);
    // Malformed numbers: not counted.
    for (const line of [
      'put 0 0 0 4294967296',
      'put -1 0 0 1',
      'put 0x10 0 0 1',
      'put 0 0 0',
      'put 0 0 0 +1',
    ])
      assertParses(`${line}\r\nx\r\n${USED_LINE}`, [BAD, UNKNOWN, USED]);
  });

  test('framing: spaces between put fields and leading zeros are fine', () => {
    assertParses('put  0  0  0  1\r\nx\r\nput 00 0 0 01\r\ny\r\n', [
      put(0, 0, 0, 'x\r\n'),
      put(0, 0, 0, 'y\r\n'),
    ]);
  });
});

describe('parser JOB_TOO_BIG', () => {
  test('JOB_TOO_BIG: discards exactly bytes+2, whatever they hold, then stays in sync', () => {
    // 'delete 1234\r\n' is 13 bytes = 11 + 2: swallowed, not executed.
    assertParses(`put 0 0 0 11\r\ndelete 1234\r\n${USED_LINE}`, [TOO_BIG, USED], 10);
    assertParses(`put 0 0 0 11\r\n0123456789abX${USED_LINE}`, [TOO_BIG, USED], 10);
  });

  test('JOB_TOO_BIG: takes precedence over garbage after the fourth number', () => {
    assertParses(`put 0 0 0 11 garbage\r\n0123456789abc${USED_LINE}`, [TOO_BIG, USED], 10);
  });

  test('JOB_TOO_BIG: a body of exactly the maximum is accepted', () => {
    assertParses(
      `put 0 0 0 10\r\n0123456789\r\nput 0 0 0 11\r\n0123456789a\r\n${USED_LINE}`,
      [put(0, 0, 0, '0123456789\r\n'), TOO_BIG, USED],
      10,
    );
  });

  test('JOB_TOO_BIG: a long discard spanning many chunks', () => {
    const bodyBytes = 300;
    assertParses(`put 0 0 0 ${bodyBytes}\r\n${'z\r\n'.repeat(100)}\r\n${USED_LINE}`, [TOO_BIG, USED], 10);
  });

  test('JOB_TOO_BIG: the reply only comes once the whole body is gone', () => {
    assertParses(`put 0 0 0 4294967295 x\r\n${USED_LINE}`, [], 10);
  });
});

describe('parser line limits', () => {
  const name200 = 'a'.repeat(200);

  test('lines: a 224-byte line (the longest pause-tube) is accepted', () => {
    const line = `pause-tube ${name200} 4294967295\r\n`;
    assert.equal(line.length, 224);
    assertParses(line + USED_LINE, [{ op: 'pause-tube', tube: name200, delayMs: 4294967295000 }, USED]);
    assertParses(`${'x'.repeat(222)}\r\n${USED_LINE}`, [UNKNOWN, USED]);
  });

  test('lines: 226-, 230- and 5000-byte lines → one BAD_FORMAT, then in sync', () => {
    for (const length of [226, 230, 5000])
      assertParses(`${'x'.repeat(length - 2)}\r\n${USED_LINE}`, [BAD, USED]);
  });

  test('lines: a 225-byte line loses its CR with the first 224 bytes and swallows the next line', () => {
    // beanstalkd's fixed buffer: the CR is the 224th byte, discarded with the rest, so the CRLF is
    // never seen and the following command ends the bad line. One BAD_FORMAT, then in sync.
    const twice = USED_LINE + USED_LINE;
    assertParses(`${'x'.repeat(223)}\r\n${twice}`, [BAD, USED]);
    assertParses(`pause-tube a${name200} 4294967295\r\n${twice}`, [BAD, USED]);
  });

  test('lines: while discarding, a CRLF split across two 224-byte windows is missed', () => {
    assertParses(`${'x'.repeat(447)}\r\n${USED_LINE}${USED_LINE}`, [BAD, USED]);
  });

  test('lines: only the first CR of a window counts', () => {
    // Too short to fill the buffer: no line end is found, nothing comes out yet.
    assertParses(`use a\rb\r\n${USED_LINE}`, []);
    // Filled: discarded in windows until one whose first CR is followed by LF.
    assertParses(`use a\rb\r\n${USED_LINE.repeat(20)}`, [BAD, ...Array(6).fill(USED)]);
    assertParses(`use a\rb${'x'.repeat(300)}\r\n${USED_LINE}`, [BAD, USED]);
    assertParses(`${'x'.repeat(230)}\ry\r\n${USED_LINE}`, []);
  });

  test('lines: a NUL byte anywhere in the line → BAD_FORMAT', () => {
    assertParses(`use a\0b\r\n${USED_LINE}`, [BAD, USED]);
    assertParses(`\0\r\n${USED_LINE}`, [BAD, USED]);
    assertParses(`list-tube-used\0\r\n${USED_LINE}`, [BAD, USED]);
  });

  test('lines: a bare LF is a byte of the line, not its end', () => {
    assertParses(`use a\nuse b\r\n${USED_LINE}`, [BAD, USED]);
    assertParses(`\n${USED_LINE}`, [UNKNOWN]);
  });

  test('lines: an empty line → UNKNOWN_COMMAND', () => {
    assertParses(`\r\n\r\n${USED_LINE}`, [UNKNOWN, UNKNOWN, USED]);
  });
});

describe('parser bufferedBytes', () => {
  const chunk = (s: string): Buffer => Buffer.from(s, 'latin1');
  const pull = (p: RequestParser): Record<string, unknown> => {
    const r = p.next();
    assert.ok(r, 'a request is complete');
    return simplify(r);
  };

  test('bufferedBytes: unconsumed complete lines count until pulled', () => {
    const p = new RequestParser(65535);
    p.push(chunk('use a\r\nuse b\r\n'));
    assert.equal(p.bufferedBytes, 14);
    assert.deepEqual(pull(p), { op: 'use', tube: 'a' });
    assert.equal(p.bufferedBytes, 7);
    p.next();
    assert.equal(p.bufferedBytes, 0);
    assert.equal(p.next(), undefined);
  });

  test('bufferedBytes: a partial line stays buffered until its CRLF arrives', () => {
    const p = new RequestParser(65535);
    p.push(chunk('use a'));
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 5);
    p.push(chunk('\r'));
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 6);
    p.push(chunk('\nus'));
    assert.deepEqual(pull(p), { op: 'use', tube: 'a' });
    assert.equal(p.bufferedBytes, 2);
  });

  test('bufferedBytes: body bytes, JOB_TOO_BIG discards and long-line discards are consumed', () => {
    const p = new RequestParser(10);
    p.push(chunk('put 0 0 0 5\r\nhel'));
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 0);
    p.push(chunk('lo\r\nput 0 0 0 100\r\n'));
    assert.equal(p.next()?.op, 'put');
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 0);
    p.push(Buffer.alloc(102, 0x41));
    assert.deepEqual(pull(p), TOO_BIG);
    p.push(Buffer.alloc(300, 0x78));
    assert.equal(p.next(), undefined);
    assert.equal(p.bufferedBytes, 0);
    p.push(chunk(`\r\n${USED_LINE}`));
    assert.deepEqual(pull(p), BAD);
    assert.deepEqual(pull(p), USED);
  });

  test('bufferedBytes: input grows while nothing is pulled (a blocked reserve)', () => {
    const p = new RequestParser(65535);
    p.push(chunk('reserve\r\nuse a\r\n'));
    assert.equal(p.next()?.op, 'reserve');
    assert.equal(p.bufferedBytes, 7);
    p.push(chunk('use b\r\n'));
    p.push(chunk('use c\r\n'));
    assert.equal(p.bufferedBytes, 21);
    const tubes: unknown[] = [];
    for (let r = p.next(); r; r = p.next()) tubes.push(simplify(r).tube);
    assert.deepEqual(tubes, ['a', 'b', 'c']);
    assert.equal(p.bufferedBytes, 0);
  });
});
