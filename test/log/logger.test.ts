/** Logger: text and JSON lines, levels, escaping that cannot forge a line, rate-limited warnings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Logger, type LoggerOptions } from '../../src/log/logger';

function capture(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  let nowMs = Date.UTC(2026, 11, 7, 1, 50, 0, 123);
  const log = new Logger({
    component: 'node',
    write: (line) => lines.push(line),
    nowMs: () => nowMs,
    ...options,
  });
  return { log, lines, advance: (ms: number) => (nowMs += ms) };
}

test('logger: text lines carry a timestamp, level, component, message and fields', () => {
  const { log, lines } = capture();
  log.info('start', { version: '0.1.0', listen: '0.0.0.0:11300', jobs: 12, tls: false, skipped: undefined });
  assert.deepEqual(lines, [
    '2026-12-07T01:50:00.123Z INFO  node start version=0.1.0 listen=0.0.0.0:11300 jobs=12 tls=false\n',
  ]);
});

test('logger: a field can never forge a second line or another field', () => {
  const { log, lines } = capture();
  log.warn('refused', { reason: 'bad\nline x=1', empty: '', quote: 'a"b' });
  assert.equal(lines.length, 1);
  assert.equal(
    lines[0],
    '2026-12-07T01:50:00.123Z WARN  node refused reason="bad\\nline x=1" empty="" quote="a\\"b"\n',
  );
});

test('logger: JSON lines are one object each, fields included', () => {
  const { log, lines } = capture({ format: 'json', component: 'proxy' });
  log.error('node down', { node: 'node-1', reason: 'connect ECONNREFUSED' });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n'));
  assert.deepEqual(JSON.parse(lines[0] as string), {
    ts: '2026-12-07T01:50:00.123Z',
    level: 'error',
    component: 'proxy',
    msg: 'node down',
    node: 'node-1',
    reason: 'connect ECONNREFUSED',
  });
});

test('logger: the level drops what is below it', () => {
  const { log, lines } = capture({ level: 'warn' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  assert.deepEqual(
    lines.map((l) => / node (\w+)\n$/.exec(l)?.[1]),
    ['w', 'e'],
  );
  assert.equal(log.enabled('info'), false);
});

test('logger: a limited warning logs once per window and then says how many it left out', () => {
  const { log, lines, advance } = capture({ limitMs: 60_000 });
  for (let i = 0; i < 5; i++) log.warnLimited('max-connections', 'connection refused', { limit: 10 });
  log.warnLimited('disk', 'binlog write failed', { code: 'ENOSPC' });
  assert.equal(lines.length, 2, 'one per key');
  advance(59_999);
  log.warnLimited('max-connections', 'connection refused', { limit: 10 });
  assert.equal(lines.length, 2, 'still inside the window');
  advance(1);
  log.warnLimited('max-connections', 'connection refused', { limit: 10 });
  assert.equal(lines.length, 3);
  assert.match(lines[2] as string, / connection refused limit=10 suppressed=5\n$/);
  advance(60_000);
  log.warnLimited('max-connections', 'connection refused', { limit: 10 });
  assert.match(lines[3] as string, / connection refused limit=10\n$/, 'nothing left out this time');
});
