import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  convertStats,
  JOB_STATS_FIELDS,
  SERVER_STATS_FIELDS,
  TUBE_STATS_FIELDS,
} from '../../src/protocol/stats';
import { parseYamlList, parseYamlMap, YamlFormatError } from '../../src/protocol/yaml';

/** A 1.13-style stats body (quoted strings), values made up but shaped like the real thing. */
function serverStatsText(quote: boolean): string {
  const q = (s: string): string => (quote ? `"${s}"` : s);
  const lines = Object.keys(SERVER_STATS_FIELDS).map((key, i) => {
    switch (key) {
      case 'version':
        return `version: "1.13"`;
      case 'rusage-utime':
        return 'rusage-utime: 0.019322';
      case 'rusage-stime':
        return 'rusage-stime: 1.000000';
      case 'draining':
        return 'draining: false';
      case 'id':
        return 'id: 0e12345678901234';
      case 'hostname':
        return `hostname: ${q('vm')}`;
      case 'os':
        return `os: ${q('#1 SMP PREEMPT_DYNAMIC @0')}`;
      case 'platform':
        return `platform: ${q('x86_64')}`;
      default:
        return `${key}: ${i}`;
    }
  });
  return `---\n${lines.join('\n')}\n`;
}

describe('client yaml', () => {
  test('yaml: map lines, quoted values unwrapped, no type guessing', () => {
    const map = parseYamlMap('---\nname: "123"\nos: #1 SMP\nid: 0e12\nempty:\nspaced: a: b\n');
    assert.deepEqual({ ...map }, { name: '123', os: '#1 SMP', id: '0e12', empty: '', spaced: 'a: b' });
    assert.equal(Object.getPrototypeOf(map), null);
  });

  test('yaml: list items stay byte-exact strings', () => {
    const items = parseYamlList('---\n- default\n- 123\n- true\n- null\n- 0x1F\n- 1e3\n- (.$;+/_)\n');
    assert.deepEqual(items, ['default', '123', 'true', 'null', '0x1F', '1e3', '(.$;+/_)']);
    assert.deepEqual(parseYamlList('---\n'), []);
  });

  test('yaml: malformed bodies are errors', () => {
    assert.throws(() => parseYamlMap('name: x\n'), YamlFormatError); // no document marker
    assert.throws(() => parseYamlMap('---\nno colon here\n'), YamlFormatError);
    assert.throws(() => parseYamlMap('---\nkey:value\n'), YamlFormatError);
    assert.throws(() => parseYamlMap('---\n: value\n'), YamlFormatError);
    assert.throws(() => parseYamlList('---\n-x\n'), YamlFormatError);
    assert.throws(() => parseYamlList('---\nname: x\n'), YamlFormatError);
  });

  test('stats: all 51 server keys typed (1.12 unquoted and 1.13 quoted)', () => {
    assert.equal(Object.keys(SERVER_STATS_FIELDS).length, 51);
    for (const quote of [false, true]) {
      const stats = convertStats(parseYamlMap(serverStatsText(quote)), SERVER_STATS_FIELDS);
      assert.deepEqual(Object.keys(stats), Object.keys(SERVER_STATS_FIELDS));
      assert.equal(stats['current-jobs-urgent'], 0);
      assert.equal(stats.pid, Object.keys(SERVER_STATS_FIELDS).indexOf('pid'));
      assert.equal(stats.version, '1.13');
      assert.equal(stats['rusage-utime'], 0.019322);
      assert.equal(stats['rusage-stime'], 1);
      assert.equal(stats.draining, false);
      assert.equal(stats.id, '0e12345678901234');
      assert.equal(stats.hostname, 'vm');
      assert.equal(stats.os, '#1 SMP PREEMPT_DYNAMIC @0');
      assert.equal(stats.platform, 'x86_64');
    }
  });

  test('stats: tube and job stats typed; job state checked', () => {
    const tube = convertStats(
      parseYamlMap(
        `---\n${Object.keys(TUBE_STATS_FIELDS)
          .map((k) => (k === 'name' ? 'name: "123"' : `${k}: 7`))
          .join('\n')}\n`,
      ),
      TUBE_STATS_FIELDS,
    );
    assert.equal(tube.name, '123');
    assert.equal(tube['pause-time-left'], 7);
    const jobText =
      '---\nid: 4\ntube: default\nstate: ready\npri: 1\nage: 1\ndelay: 0\nttr: 1\ntime-left: 0\nfile: 0\nreserves: 1\ntimeouts: 1\nreleases: 0\nburies: 0\nkicks: 0\n';
    const job = convertStats(parseYamlMap(jobText), JOB_STATS_FIELDS);
    assert.deepEqual(
      { ...job },
      {
        id: 4,
        tube: 'default',
        state: 'ready',
        pri: 1,
        age: 1,
        delay: 0,
        ttr: 1,
        'time-left': 0,
        file: 0,
        reserves: 1,
        timeouts: 1,
        releases: 0,
        buries: 0,
        kicks: 0,
      },
    );
    assert.throws(
      () => convertStats(parseYamlMap(jobText.replace('ready', 'sleeping')), JOB_STATS_FIELDS),
      YamlFormatError,
    );
  });

  test('stats: missing keys and malformed values are errors; unknown keys kept as strings', () => {
    const full = serverStatsText(false);
    assert.throws(
      () => convertStats(parseYamlMap(full.replace(/^pid: .*\n/m, '')), SERVER_STATS_FIELDS),
      YamlFormatError,
    );
    assert.throws(
      () => convertStats(parseYamlMap(full.replace('draining: false', 'draining: no')), SERVER_STATS_FIELDS),
      YamlFormatError,
    );
    assert.throws(
      () => convertStats(parseYamlMap(full.replace(/^pid: .*$/m, 'pid: -1')), SERVER_STATS_FIELDS),
      YamlFormatError,
    );
    assert.throws(
      () => convertStats(parseYamlMap(full.replace(/^uptime: .*$/m, 'uptime: 1e3')), SERVER_STATS_FIELDS),
      YamlFormatError,
    );
    const extra = convertStats(
      parseYamlMap(`${full}future-key: 12\n`),
      SERVER_STATS_FIELDS,
    ) as unknown as Record<string, unknown>;
    assert.equal(extra['future-key'], '12');
  });
});
