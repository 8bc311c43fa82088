/**
 * The alert rules: every rules file under deploy/prometheus/ (any YAML with top-level `groups:`) is
 * accepted by `promtool check rules`, loaded by the shipped Prometheus config, shipped to the
 * Prometheus Operator as the same PrometheusRule groups, and every alert in it is unit-tested by
 * `promtool test rules` (test/deploy/rules/*.yml) with a case where it fires and one where it stays
 * quiet, reads only metrics stalkd exports, and has a runbook section in docs/alerts.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { exportedNames, metricNames } from '../support/dashboards';
import { readYaml, repoPath } from '../support/deploy-files';
import { type K8sObject, renderKustomization } from '../support/kustomize-lite';
import { hasBinary } from '../support/prometheus';
import { whenInstalled } from '../support/requires';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

const PROMETHEUS_DIR = repoPath('deploy', 'prometheus');
const RULE_TESTS_DIR = repoPath('test', 'deploy', 'rules');
const SEVERITIES = ['critical', 'warning'];

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFilesUnder(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const ruleFiles = yamlFilesUnder(PROMETHEUS_DIR).filter((f) => 'groups' in (readYaml(f) ?? {}));
const groupsOf = (file: string) => readYaml<{ groups: RuleGroup[] }>(file).groups;
const alerts = ruleFiles.flatMap((file) =>
  groupsOf(file).flatMap((g) => g.rules.filter((r) => r.alert).map((rule) => ({ file, rule }))),
);
const ruleTests = yamlFilesUnder(RULE_TESTS_DIR).map((path) => ({
  path,
  spec: readYaml<RuleTestFile>(path),
}));

test('alert rules: deploy/prometheus holds rules files with alerts', () => {
  assert.ok(ruleFiles.length > 0, 'a rules file');
  assert.ok(alerts.length >= 10, `${alerts.length} alerts`);
  const names = alerts.map((a) => a.rule.alert);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
});

whenInstalled(hasBinary('promtool'), 'promtool (apt-get install prometheus)', () => {
  test('alert rules: promtool check rules accepts every rules file', () => {
    for (const file of ruleFiles) {
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${file}:\n${r.stdout}${r.stderr}`);
    }
  });

  test('alert rules: promtool test rules passes on every file in test/deploy/rules', () => {
    assert.ok(ruleTests.length > 0);
    for (const { path } of ruleTests) {
      // promtool resolves rule_files relative to the test file's directory.
      const r = spawnSync('promtool', ['test', 'rules', basename(path)], {
        cwd: dirname(path),
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${path}:\n${r.stdout}${r.stderr}`);
    }
  });
});

test('alert rules: every alert has a promtool case where it fires and one where it stays quiet', () => {
  const missing: string[] = [];
  for (const { file, rule } of alerts) {
    const cases = ruleTests
      .filter((t) => t.spec.rule_files.some((f) => resolve(dirname(t.path), f) === file))
      .flatMap((t) => t.spec.tests.flatMap((c) => c.alert_rule_test ?? []))
      .filter((c) => c.alertname === rule.alert);
    if (!cases.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${rule.alert}: no firing case`);
    if (!cases.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${rule.alert}: no quiet case`);
  }
  assert.deepEqual(missing, []);
});

/** GitHub's anchor for a Markdown heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('alert rules: severity, summary, description and a runbook section in docs/alerts.md each', () => {
  const doc = readFileSync(repoPath('docs', 'alerts.md'), 'utf8');
  const anchors = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1] as string)));
  for (const { rule } of alerts) {
    const name = rule.alert as string;
    assert.ok(SEVERITIES.includes(rule.labels?.severity ?? ''), `${name}: severity`);
    assert.ok(rule.annotations?.summary, `${name}: summary`);
    assert.ok(rule.annotations?.description, `${name}: description`);
    const runbook = rule.annotations?.runbook ?? '';
    assert.equal(runbook, `docs/alerts.md#${name.toLowerCase()}`, `${name}: runbook annotation`);
    assert.ok(anchors.has(name.toLowerCase()), `docs/alerts.md has a section "${name}"`);
  }
});

test('alert rules: every metric a rule reads is one stalkd exports', () => {
  const known = exportedNames();
  const unknown = ruleFiles
    .flatMap((f) => groupsOf(f).flatMap((g) => g.rules))
    .flatMap((r) =>
      metricNames(r.expr)
        .filter((n) => !known.has(n))
        .map((n) => `${r.alert}: ${n}`),
    );
  assert.deepEqual(unknown, []);
});

/** Prometheus' rule_files globs (`*`, `?`), relative to the config file's directory. */
function globMatches(pattern: string, path: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`).test(path);
}

test('alert rules: the shipped Prometheus config (compose) loads every rules file', () => {
  const config = join(PROMETHEUS_DIR, 'prometheus.yml');
  const patterns = readYaml<{ rule_files?: string[] }>(config).rule_files ?? [];
  for (const file of ruleFiles) {
    const rel = relative(PROMETHEUS_DIR, file);
    assert.ok(
      patterns.some((p) => globMatches(p, rel)),
      `${rel} matches rule_files ${patterns.join(', ')}`,
    );
  }
});

test('alert rules: the PrometheusRule objects hold the same groups as deploy/prometheus', () => {
  const objects = renderKustomization(repoPath('deploy', 'k8s', 'servicemonitor')) as Array<
    K8sObject & { spec?: { groups?: RuleGroup[] } }
  >;
  const shipped = objects
    .filter((o) => o.kind === 'PrometheusRule')
    .flatMap((o) => o.spec?.groups ?? [])
    .sort((a, b) => a.name.localeCompare(b.name));
  const files = ruleFiles.flatMap(groupsOf).sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(shipped, files);
});
