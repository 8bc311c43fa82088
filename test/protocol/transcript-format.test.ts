/**
 * The transcript machinery itself: the parser, and a player that must fail on every kind of
 * mismatch — played against a scripted fake server that answers each line from a table.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseText, parseTranscript } from '../support/transcript';
import { playCase } from '../support/transcript-player';
import type { Target } from '../support/transcript-targets';

/** Canned replies by request line; `close` hangs up. */
const SCRIPT: Record<string, string> = {
  'put 0 0 60 1': '',
  x: 'INSERTED 7\r\n',
  'peek 7': 'FOUND 7 1\r\nx\r\n',
  'peek 8': 'NOT_FOUND\r\n',
  good: 'OK 12\r\n---\nkey: 42\n\r\n',
  short: 'OK 10\r\n---\nkey: 42\n\r\n',
  extra: 'USING a\r\nUSING b\r\n',
  quoted: 'OK 16\r\n---\nname: "abc"\n\r\n',
  unquoted: 'OK 14\r\n---\nname: abc\n\r\n',
};

let server: Server;
let target: Target;

before(async () => {
  server = createServer((socket) => {
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let eol = pending.indexOf('\r\n'); eol >= 0; eol = pending.indexOf('\r\n')) {
        const line = pending.slice(0, eol);
        pending = pending.slice(eol + 2);
        if (line === 'close') socket.end();
        else socket.write(SCRIPT[line] ?? 'UNKNOWN_COMMAND\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  target = {
    name: 'fake',
    version: '1.13',
    fakeClock: false,
    host: '127.0.0.1',
    port: address.port,
    stop: async () => {},
  };
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function play(source: string, version: Target['version'] = '1.13'): Promise<void> {
  const [c] = parseTranscript('t.t', `=== case\n${source}`).cases;
  assert.ok(c);
  return playCase({ ...target, version }, c, { expectTimeoutMs: 300 });
}

describe('transcript format', () => {
  test('parser: escapes, repetition and symbols', () => {
    const parts = parseText('a\\r\\n\\x00\\$\\[3*ab]$id', { symbols: true, star: false });
    assert.deepEqual(parts, [{ bytes: Buffer.from('a\r\n\x00$ababab', 'latin1') }, { symbol: 'id' }]);
    assert.deepEqual(parseText('k: *', { symbols: true, star: true })[1], { star: true });
  });

  test('parser: rejects trailing whitespace, stray tags and @advance without a fake clock', () => {
    assert.throws(() => parseTranscript('t.t', '=== c\n> put \n'), /trailing whitespace/);
    assert.throws(() => parseTranscript('t.t', '=== c\n<1.12 X\n'), /must follow/);
    assert.throws(() => parseTranscript('t.t', '=== c\n@advance 5\n'), /fake-clock/);
    assert.throws(() => parseTranscript('t.t', '=== c\n| x\n'), /outside a <yaml/);
    assert.doesNotThrow(() => parseTranscript('t.t', '@requires fake-clock\n=== c\n@advance 5\n'));
  });

  test('parser: @repeat copies steps and @if tags them by version', () => {
    const [c] = parseTranscript(
      't.t',
      '=== c\n@repeat 3\n> a\n@end\n@if 1.12\n< b\n@else\n< c\n@end\n',
    ).cases;
    assert.equal(c?.steps.length, 5);
    assert.deepEqual(
      c?.steps.map((s) => s.only),
      [undefined, undefined, undefined, '1.12', '1.13'],
    );
  });

  test('player: a matching conversation passes and binds ids', async () => {
    await play(
      '> put 0 0 60 1\n> x\n< INSERTED $a\n> peek $a\n< FOUND $a 1\n< x\n> good\n<yaml\n| ---\n| key: *\n',
    );
  });

  test('player: a wrong line fails with expected and received bytes', async () => {
    await assert.rejects(
      play('> peek 8\n< FOUND 8 1\n'),
      /t\.t:3 .*\n.*expected: "FOUND 8 1\\r\\n"\n.*received: "NOT_FOUND\\r\\n"/,
    );
  });

  test('player: a bound symbol must match the same id again', async () => {
    await assert.rejects(play('> put 0 0 60 1\n> x\n< INSERTED $a\n> peek 8\n< FOUND $a 1\n'), /expected/);
  });

  test('player: OK <n> must be the exact body length', async () => {
    await assert.rejects(play('> short\n<yaml\n| ---\n| key: 42\n'), /YAML|CRLF/);
  });

  test('player: YAML lines are matched whole and in order', async () => {
    await assert.rejects(play('> good\n<yaml\n| ---\n| key: 4\n'), /expected YAML/);
    await assert.rejects(play('> good\n<yaml\n| key: 42\n'), /expected YAML/);
    await play('> good\n<yaml\n| ...\n| key: 42\n');
  });

  test('player: version alternatives pick by the target version', async () => {
    const source = '> quoted\n<yaml\n| ---\n| name: "abc"\n|1.12 name: abc\n';
    await play(source, '1.13');
    await assert.rejects(play(source, '1.12'), /expected YAML/);
    await play('> unquoted\n<yaml\n| ---\n| name: "abc"\n|1.12 name: abc\n', '1.12');
  });

  test('player: unexpected bytes left at the end fail the case', async () => {
    await assert.rejects(play('> extra\n< USING a\n'), /unexpected bytes/);
  });

  test('player: a silent server times out with a clear message', async () => {
    await assert.rejects(play('> put 0 0 60 1\n< INSERTED $a\n'), /timed out after 300 ms/);
  });

  test('player: @eof passes on a hang-up and fails when the server keeps talking', async () => {
    await play('> close\n@eof\n');
    await assert.rejects(play('> peek 8\n@eof\n'), /expected the server to close/);
  });
});
