/**
 * Request formatting is the parser's inverse: every line the parser accepts in its canonical form
 * formats back to itself, and the x-* extensions are decoded only by a parser built with them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BARE_OPS, type Request } from '../../src/protocol/commands';
import { RequestParser } from '../../src/protocol/parser';
import { requestLine } from '../../src/protocol/request-line';

function parseOne(text: string, extensions = true): Request {
  const parser = new RequestParser(65535, extensions);
  parser.push(Buffer.from(text, 'latin1'));
  const req = parser.next();
  assert.ok(req, `no request from ${JSON.stringify(text)}`);
  return req;
}

const LINES = [
  'put 10 2 60 5',
  'use t1',
  'watch a+b',
  'ignore default',
  'stats-tube t',
  'pause-tube t 30',
  'reserve',
  'reserve-with-timeout 7',
  'reserve-job 42',
  'delete 9007199254740991',
  'touch 1',
  'peek 3',
  'kick-job 4',
  'stats-job 5',
  'release 6 100 3',
  'bury 7 200',
  'kick 10',
  ...BARE_OPS,
  'quit',
  'x-hello',
  'x-cancel',
  'x-unreserve 12',
  'x-move-out 3 node-2',
  'x-move-done 4',
  'x-reserve-wait 4294967295 6',
  'x-put some-tube 1 2 3 5',
];

test('request-line: every request formats back to the line it was parsed from', () => {
  for (const line of LINES) {
    const text = /^(x-)?put /.test(line) ? `${line}\r\nhello\r\n` : `${line}\r\n`;
    const req = parseOne(text);
    assert.notEqual(req.op, 'error', line);
    assert.equal(requestLine(req), line);
  }
});

test('request-line: the id of a job request can be replaced (node-local ids through the proxy)', () => {
  assert.equal(requestLine(parseOne('release 65 1 0\r\n'), 2), 'release 2 1 0');
  assert.equal(requestLine(parseOne('stats-job 65\r\n'), 2), 'stats-job 2');
});

test('request-line: without extensions the x-* commands are UNKNOWN_COMMAND, as on beanstalkd', () => {
  for (const line of ['x-hello', 'x-cancel', 'x-unreserve 1', 'x-reserve-wait 1 1', 'x-reserve-wait junk']) {
    assert.deepEqual(
      parseOne(`${line}\r\n`, false),
      { op: 'error', word: 'UNKNOWN_COMMAND', count: null },
      line,
    );
  }
});
