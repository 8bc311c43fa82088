/**
 * Command decoding through the parser: beanstalkd's prefix dispatch and its quirks, number fields,
 * kick and reserve-with-timeout readers, tube names. Each line runs every way it can be chunked.
 */
import { describe, test } from 'node:test';
import { BARE_OPS } from '../../src/protocol/commands';
import { NO_SUCH_ID } from '../../src/protocol/numbers';
import { assertParses, BAD, badCounted, type Parsed, put, UNKNOWN } from '../support/parse-three-ways';

/** One line (CRLF added) must decode to `expected`. */
function line(text: string, expected: Parsed): void {
  assertParses(`${text}\r\n`, [expected]);
}

describe('parser dispatch', () => {
  test('dispatch: argument-less verbs must be exact', () => {
    for (const op of BARE_OPS) line(op, { op });
  });

  test('dispatch: junk glued to an argument-less verb → BAD_FORMAT (the shorter entry matched)', () => {
    for (const text of [
      'reserveX',
      'statsfoo',
      'stats ',
      'peek-readyX',
      'peek-delayed ',
      'list-tubesX',
      'list-tubes-watched ',
      'list-tube-usedX',
    ])
      line(text, BAD);
  });

  test('dispatch: verbs whose entry ends in a space, sent bare → UNKNOWN_COMMAND', () => {
    for (const text of [
      'put',
      'delete',
      'use',
      'watch',
      'ignore',
      'kick',
      'kick-job',
      'peek',
      'touch',
      'bury',
      'release',
      '',
      'PUT 0 0 0 1',
      'Reserve',
      'kick\t2',
      ' reserve',
    ])
      line(text, UNKNOWN);
  });

  test('dispatch: reserve-with-timeout/reserve-job/stats-job/stats-tube/pause-tube bare → BAD_FORMAT', () => {
    for (const text of ['reserve-with-timeout', 'reserve-job', 'stats-job', 'stats-tube', 'pause-tube'])
      line(text, BAD);
  });

  test('dispatch: quit is a prefix: quitX and "quit " quit too', () => {
    for (const text of ['quit', 'quitX', 'quit ', 'quit now']) line(text, { op: 'quit' });
  });

  test('dispatch: pause-tube has no space in its entry and skips spaces before the name', () => {
    line('pause-tubedefault 0', { op: 'pause-tube', tube: 'default', delayMs: 0 });
    line('pause-tube  default  7', { op: 'pause-tube', tube: 'default', delayMs: 7000 });
    line('pause-tube default 0 ', BAD);
    line('pause-tube default', BAD);
    line('pause-tube a*b 1', BAD);
    // The name is checked once the line parsed, so these count as pause-tube commands.
    line('pause-tube -x 0', badCounted('pause-tube'));
    line(`pause-tube ${'n'.repeat(201)} 1`, badCounted('pause-tube'));
  });

  test('dispatch: id commands', () => {
    for (const op of ['delete', 'touch', 'peek', 'kick-job', 'reserve-job', 'stats-job'])
      line(`${op} 42`, { op, id: 42 });
  });

  test('dispatch: internal x- extensions', () => {
    line('x-hello', { op: 'x-hello' });
    line('x-cancel', { op: 'x-cancel' });
    line('x-reserve-wait 5 3', { op: 'x-reserve-wait', timeoutMs: 5000, flags: 3 });
    line('x-unreserve 7', { op: 'x-unreserve', id: 7 });
    line('x-hellox', BAD);
    line('x-reserve-wait 5', BAD);
  });

  test('dispatch: the move extensions; x-import reads its body as a put does', () => {
    line('x-move-out 7 node-3', { op: 'x-move-out', id: 7, dest: 'node-3' });
    line('x-move-done 7', { op: 'x-move-done', id: 7 });
    line('x-list-moving', { op: 'x-list-moving' });
    for (const bad of [
      'x-move-out 7',
      'x-move-out 0 n',
      'x-move-out 7 a b',
      'x-list-movingX',
      'x-move-done x',
    ])
      line(bad, BAD);
    assertParses('x-import node-0 41 5 2500 30000 delayed 3\r\nabc\r\nx-list-moving\r\n', [
      {
        op: 'x-import',
        node: 'node-0',
        originId: 41,
        state: 'delayed',
        pri: 5,
        delayMs: 2500,
        ttrMs: 30000,
        body: 'abc\r\n',
        bodyOk: true,
      },
      { op: 'x-list-moving' },
    ]);
    for (const bad of [
      'x-import node-0 41 5 0 1000 reserved 3',
      'x-import node-0 0 5 0 1000 ready 3',
      'x-import node-0 41 4294967296 0 1000 ready 3',
      'x-import node-0 41 5 0 1000 ready',
      'x-import node-0 41 5 -1 1000 ready 3',
    ])
      line(bad, BAD);
  });

  test('dispatch: x-put names its tube and reads its body as a put does', () => {
    assertParses('x-put jobs-1 5 2 30 3\r\nabc\r\nx-put t 0 0 1 0\r\n\r\n', [
      { op: 'x-put', tube: 'jobs-1', pri: 5, delayMs: 2000, ttrMs: 30000, body: 'abc\r\n', bodyOk: true },
      { op: 'x-put', tube: 't', pri: 0, delayMs: 0, ttrMs: 1000, body: '\r\n', bodyOk: true },
    ]);
    // A bad name or number is BAD_FORMAT before any body (the next line is a command of its own).
    for (const bad of ['x-put -t 0 0 1 3', 'x-put t', 'x-put t 0 0 1', 'x-put  t 0 0 1 3', 'x-put t 0 0 x 3'])
      line(bad, BAD);
    line(`x-put ${'a'.repeat(201)} 0 0 1 3`, BAD);
    line('x-put', UNKNOWN);
  });
});

describe('parser numbers', () => {
  test('numbers: spaces before a field are skipped; the last field must end the line', () => {
    line('delete  1', { op: 'delete', id: 1 });
    line('delete 1 ', BAD);
    line('release  1  2  3', { op: 'release', id: 1, pri: 2, delayMs: 3000 });
    line('release 1 2 3 ', BAD);
    line('release 1 2 3x', BAD);
    line('bury 1 2', { op: 'bury', id: 1, pri: 2 });
    line('bury 1 2 ', BAD);
    line('touch 1 ', BAD);
    line('stats-job 111ABC', BAD);
    line('stats-job 111 222', BAD);
  });

  test('numbers: only a digit may start a number (+1, -1, 0x10, x → BAD_FORMAT)', () => {
    for (const text of [
      'delete +1',
      'delete -1',
      'delete 0x10',
      'delete x',
      'delete ',
      'bury 1 -2',
      'bury 1 +2',
    ])
      line(text, BAD);
  });

  test('numbers: leading zeros are fine', () => {
    line('delete 0010', { op: 'delete', id: 10 });
    line('delete 0', { op: 'delete', id: 0 });
    line('peek 000000000000000000000000001', { op: 'peek', id: 1 });
  });

  test('numbers: u32 fields stop at 4294967295', () => {
    line('release 1 4294967295 4294967295', {
      op: 'release',
      id: 1,
      pri: 4294967295,
      delayMs: 4294967295000,
    });
    line('release 1 4294967296 0', BAD);
    line('release 1 0 4294967296', BAD);
    line('bury 1 99999999999999999999', BAD);
    assertParses('put 4294967296 0 0 1\r\nx\r\n', [BAD, UNKNOWN]);
    assertParses('put 4294967295 0 0 1\r\nx\r\n', [put(4294967295, 0, 0, 'x\r\n')]);
  });

  test('numbers: u64 ids stop at 2^64−1; ids past 2^53 can name no job', () => {
    line('peek 18446744073709551615', { op: 'peek', id: NO_SUCH_ID });
    line('peek 18446744073709551616', BAD);
    line('peek 99999999999999999999', BAD);
    line('peek 100000000000000000000', BAD);
    line('peek 9007199254740991', { op: 'peek', id: 9007199254740991 });
    line('peek 9007199254740992', { op: 'peek', id: NO_SUCH_ID });
    line('release 18446744073709551616 0 0', BAD);
  });

  test('numbers: missing fields → BAD_FORMAT', () => {
    for (const text of ['release 1 2', 'release 1', 'bury 1', 'x-reserve-wait 1']) line(text, BAD);
  });
});

describe('parser kick', () => {
  test('kick: strtoul into 32 bits, trailing junk ignored', () => {
    line('kick 5', { op: 'kick', bound: 5 });
    line('kick -1', { op: 'kick', bound: 4294967295 });
    line('kick 4294967296', { op: 'kick', bound: 0 });
    line('kick 4294967297', { op: 'kick', bound: 1 });
    line('kick 5abc', { op: 'kick', bound: 5 });
    line('kick +3', { op: 'kick', bound: 3 });
    line('kick  7', { op: 'kick', bound: 7 });
    line('kick 0', { op: 'kick', bound: 0 });
  });

  test('kick: no digits or out of u64 range → BAD_FORMAT', () => {
    for (const text of ['kick abc', 'kick ', 'kick -', 'kick 18446744073709551616']) line(text, BAD);
  });
});

describe('parser reserve-with-timeout', () => {
  test('reserve-with-timeout: 1.13 rules — u32 up to INT_MAX, junk after the digits ignored', () => {
    line('reserve-with-timeout 0', { op: 'reserve-with-timeout', timeoutMs: 0 });
    line('reserve-with-timeout 2147483647', { op: 'reserve-with-timeout', timeoutMs: 2147483647000 });
    line('reserve-with-timeout 5abc', { op: 'reserve-with-timeout', timeoutMs: 5000 });
    line('reserve-with-timeout  3', { op: 'reserve-with-timeout', timeoutMs: 3000 });
  });

  test('reserve-with-timeout: above INT_MAX, negative or not a number → BAD_FORMAT', () => {
    for (const arg of ['2147483648', '4294967295', '4294967296', 'abc', '-1', '+1', ''])
      line(`reserve-with-timeout ${arg}`, BAD);
  });

  test('reserve-with-timeout: 1.12 rules — strtol into an int; negative waits with no timeout', () => {
    const forever = 2147483647000; // no timeout: 68 years, a wait 1.13 nodes accept too
    const cases: Array<[string, number]> = [
      ['abc', 0],
      ['0x', 0],
      ['', 0],
      ['-', 0],
      ['5abc', 5000],
      ['+1', 1000],
      ['  \t\v\f7', 7000],
      ['-0', 0],
      ['-1', forever],
      ['2147483647', 2147483647000],
      ['2147483648', forever], // int -2147483648
      ['4294967295', forever], // int -1
      ['4294967296', 0], // low 32 bits: 0
      ['4294967297', 1000],
      ['000000000000000000000000000004294967296', 0],
      ['9223372036854775807', forever], // LONG_MAX: low 32 bits all ones
      ['-9223372036854775808', 0], // LONG_MIN: low 32 bits zero
      ['-4294967295', 1000],
    ];
    for (const [arg, timeoutMs] of cases)
      assertParses(
        `reserve-with-timeout ${arg}\r\n`,
        [{ op: 'reserve-with-timeout', timeoutMs }],
        65535,
        '1.12',
      );
  });

  test('reserve-with-timeout: 1.12 — only a number beyond a 64-bit long is BAD_FORMAT (ERANGE)', () => {
    for (const arg of ['9223372036854775808', '-9223372036854775809', '99999999999999999999'])
      assertParses(`reserve-with-timeout ${arg}\r\n`, [BAD], 65535, '1.12');
  });
});

describe('parser tube names', () => {
  test('names: the whole charset, 1 to 200 bytes', () => {
    for (const name of ['a$b_c(d)+e/f;g.h', '(.$;+/_)', '123', 'foo-', 'x', 'n'.repeat(200)])
      for (const op of ['use', 'watch', 'ignore', 'stats-tube']) line(`${op} ${name}`, { op, tube: name });
  });

  test('names: 201 bytes, a leading "-", other bytes, or extra spaces → BAD_FORMAT', () => {
    for (const name of ['n'.repeat(201), '-foo', '*', 'a b', ' foo', 'foo ', 'caf\xe9', 'a\tb'])
      for (const op of ['use', 'watch', 'ignore', 'stats-tube']) line(`${op} ${name}`, BAD);
  });
});
