/**
 * Every flag of `stalkd node`, `stalkd proxy` and `stalkd cluster` has an environment variable, no
 * variable has the shape of a Kubernetes service link (so `STALKD_PORT=tcp://…` from a Service named
 * `stalkd` is never read), flags win over variables, and docs/configuration.md lists them all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENV_PREFIX, isServiceLinkShaped } from '../../src/cli/environment';
import { buildProgram } from '../../src/cli/main';
import { parseCommandLine } from '../../src/cli/parse-only';

const COMMANDS = Object.keys(ENV_PREFIX);
const program = buildProgram();
const commandNamed = (name: string) => program.commands.find((c) => c.name() === name);

test('environment: every flag of the long-running commands has a variable, unique and never service-link shaped', () => {
  for (const name of COMMANDS) {
    const cmd = commandNamed(name);
    assert.ok(cmd, name);
    const vars = cmd.options.map((o) => o.envVar);
    assert.deepEqual(
      cmd.options.filter((o) => !o.envVar).map((o) => o.long),
      [],
      `${name}: flags without a variable`,
    );
    assert.equal(new Set(vars).size, vars.length, `${name}: one variable per flag`);
    for (const v of vars as string[]) {
      assert.match(v, /^STALKD_[A-Z0-9_]+$/);
      assert.equal(isServiceLinkShaped(v), false, `${name}: ${v} looks like a Kubernetes service link`);
    }
  }
  for (const link of [
    'STALKD_PORT',
    'STALKD_NODE_PORT',
    'STALKD_SERVICE_HOST',
    'STALKD_PORT_11300_TCP_ADDR',
  ]) {
    assert.equal(isServiceLinkShaped(link), true, link);
  }
});

/** What Kubernetes puts in every pod for a Service (enableServiceLinks, the default). */
function serviceLinks(service: string, port: number): Record<string, string> {
  const s = service.toUpperCase().replace(/-/g, '_');
  const tcp = `tcp://10.96.0.17:${port}`;
  return {
    [`${s}_SERVICE_HOST`]: '10.96.0.17',
    [`${s}_SERVICE_PORT`]: String(port),
    [`${s}_SERVICE_PORT_BEANSTALK`]: String(port),
    [`${s}_PORT`]: tcp,
    [`${s}_PORT_${port}_TCP`]: tcp,
    [`${s}_PORT_${port}_TCP_PROTO`]: 'tcp',
    [`${s}_PORT_${port}_TCP_PORT`]: String(port),
    [`${s}_PORT_${port}_TCP_ADDR`]: '10.96.0.17',
  };
}

test('environment: Kubernetes service-link variables of any stalkd Service change nothing', () => {
  const env = {
    ...serviceLinks('stalkd', 11300),
    ...serviceLinks('stalkd-node', 11300),
    ...serviceLinks('stalkd-metrics', 9300),
    ...serviceLinks('stalkd-max-connections', 1),
    ...serviceLinks('stalkd-cluster', 11300),
  };
  const node = parseCommandLine(buildProgram, ['node'], env);
  assert.deepEqual([node.valueOf('-p'), node.sourceOf('-p')], [11300, 'default']);
  assert.equal(node.valueOf('--metrics-port'), 0);
  const proxy = parseCommandLine(buildProgram, ['proxy', '--nodes', '127.0.0.1:1'], env);
  assert.equal(proxy.valueOf('-p'), 11300);
  const cluster = parseCommandLine(buildProgram, ['cluster'], env);
  assert.equal(cluster.sourceOf('-p'), 'default');
});

test('environment: each variable sets its flag; the command line wins', () => {
  const env = {
    STALKD_PORT_NUMBER: '12345',
    STALKD_METRICS_PORT_NUMBER: '9400',
    STALKD_BINLOG_DIR: '/data',
    STALKD_MAX_JOBS_BYTES: '1048576',
    STALKD_LOG_FORMAT: 'json',
    STALKD_NO_FSYNC: '1',
    STALKD_NODE_INDEX: '2',
  };
  const node = parseCommandLine(buildProgram, ['node'], env);
  assert.deepEqual(
    ['-p', '--metrics-port', '-b', '--max-jobs-bytes', '--log-format', '--node-index'].map((f) =>
      node.valueOf(f),
    ),
    [12345, 9400, '/data', 1048576, 'json', 2],
  );
  assert.equal(node.options.fsync, false, 'a boolean flag is on when its variable is set');
  assert.equal(node.sourceOf('-p'), 'env');
  const flagged = parseCommandLine(buildProgram, ['node', '-p', '11400'], env);
  assert.deepEqual([flagged.valueOf('-p'), flagged.sourceOf('-p')], [11400, 'cli']);
  const proxy = parseCommandLine(buildProgram, ['proxy'], {
    STALKD_NODES: '127.0.0.1:11301',
    STALKD_LOG_LEVEL: 'warn',
  });
  assert.deepEqual([proxy.valueOf('--nodes'), proxy.valueOf('--log-level')], ['127.0.0.1:11301', 'warn']);
});

test('docs/configuration.md: one table lists every flag with its variable, per command', () => {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'configuration.md'), 'utf8');
  for (const name of COMMANDS) {
    const section = doc.split(/^## /m).find((s) => s.startsWith(`\`stalkd ${name}\``));
    assert.ok(section, `a section for stalkd ${name}`);
    const rows = [...section.matchAll(/^\| `([^`]+)` \| `(STALKD_[A-Z0-9_]+)` \|/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    const cmd = commandNamed(name);
    const expected = (cmd?.options ?? []).map((o) => [o.flags.replace(/ <.*$/, ''), o.envVar]);
    assert.deepEqual(rows, expected, `stalkd ${name}`);
  }
});
