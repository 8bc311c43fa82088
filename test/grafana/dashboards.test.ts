/**
 * Static checks of grafana/ (no Prometheus needed): dashboards refer only to metrics we export,
 * use the provisioned datasource and defined variables, have the panels issue 5 asks for; the
 * provisioning files point where compose and Kubernetes mount them; docs list every family.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ALL_FAMILIES } from '../../src/metrics/families';
import { exportedNames, GRAFANA_DIR, loadDashboards, metricNames } from '../support/dashboards';

const dashboards = loadDashboards();
const DATASOURCE_UID = 'stalkd-prometheus';
/** Panels name their datasource through the dashboard's `datasource` variable. */
const DATASOURCE_REF = '$' + '{datasource}';

test('dashboards: every metric a panel queries is one stalkd exports', () => {
  const known = exportedNames();
  const unknown: string[] = [];
  for (const d of dashboards) {
    for (const p of d.panels) {
      for (const expr of p.exprs) {
        for (const name of metricNames(expr))
          if (!known.has(name)) unknown.push(`${d.file} / ${p.title}: ${name}`);
      }
    }
  }
  assert.deepEqual(unknown, []);
});

test('dashboards: unique uids and panel ids, queries on every panel, datasource via the variable', () => {
  assert.equal(new Set(dashboards.map((d) => d.uid)).size, dashboards.length);
  for (const d of dashboards) {
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${d.file}: duplicate panel ids`);
    assert.ok(
      d.variables.some((v) => v.name === 'datasource' && v.type === 'datasource'),
      `${d.file}: datasource variable`,
    );
    for (const p of d.panels) {
      assert.ok(
        p.exprs.length > 0 && p.exprs.every((e) => e.trim() !== ''),
        `${d.file} / ${p.title}: queries`,
      );
      for (const uid of p.datasourceUids)
        assert.equal(uid, DATASOURCE_REF, `${d.file} / ${p.title}: datasource`);
      for (const expr of p.exprs) {
        for (const [, name] of expr.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
          const defined = name?.startsWith('__') || d.variables.some((v) => v.name === name);
          assert.ok(defined, `${d.file} / ${p.title}: undefined variable $${name}`);
        }
      }
    }
  }
});

test('dashboards: the overview covers what issue 5 asks for and the tube drill-down has $tube', () => {
  const overview = dashboards.find((d) => d.uid === 'stalkd-overview');
  const tube = dashboards.find((d) => d.uid === 'stalkd-tube');
  assert.ok(overview && tube);
  const queried = new Set(overview.panels.flatMap((p) => p.exprs.flatMap(metricNames)));
  for (const name of [
    'stalkd_jobs',
    'stalkd_commands_total',
    'stalkd_tube_jobs',
    'stalkd_proxy_command_duration_seconds',
    'up',
    'stalkd_draining',
    'stalkd_proxy_backend_up',
    'stalkd_binlog_fsync_duration_seconds',
    'stalkd_binlog_disk_bytes',
    'stalkd_nodejs_eventloop_lag_p99_seconds',
  ]) {
    assert.ok(queried.has(name), `overview queries ${name}`);
  }
  const tubeVar = tube.variables.find((v) => v.name === 'tube');
  assert.deepEqual(tubeVar?.labelValues, { match: 'stalkd_tube_jobs', label: 'tube' });
  assert.ok(tube.panels.every((p) => p.exprs.every((e) => e.includes('$tube'))));
});

test('dashboards: provisioning points at the mounted dashboards and the datasource uid they use', () => {
  const ds = parse(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'stalkd.yml'), 'utf8')) as {
    datasources: { uid: string; type: string; url: string; isDefault: boolean }[];
  };
  assert.deepEqual(
    ds.datasources.map((d) => [d.uid, d.type, d.isDefault]),
    [[DATASOURCE_UID, 'prometheus', true]],
  );
  const provider = parse(
    readFileSync(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'stalkd.yml'), 'utf8'),
  ) as {
    providers: { type: string; options: { path: string } }[];
  };
  assert.deepEqual(
    provider.providers.map((p) => [p.type, p.options.path]),
    [['file', '/var/lib/grafana/dashboards']],
  );
  // The dashboards' datasource variable defaults to the provisioned datasource.
  for (const file of ['stalkd-overview.json', 'stalkd-tube.json']) {
    const raw = JSON.parse(readFileSync(join(GRAFANA_DIR, 'dashboards', file), 'utf8')) as {
      templating: { list: { name: string; current?: { value?: string } }[] };
    };
    const v = raw.templating.list.find((x) => x.name === 'datasource');
    assert.equal(v?.current?.value, DATASOURCE_UID, file);
  }
});

test('metrics docs: every family is listed with its type', () => {
  const root = join(GRAFANA_DIR, '..');
  const docs = ['README.md', join('docs', 'metrics.md')]
    .map((f) => join(root, f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const missing = ALL_FAMILIES.filter((f) => !new RegExp(`\`${f.name}\`[^\\n]*\\b${f.type}\\b`).test(docs));
  assert.deepEqual(
    missing.map((f) => f.name),
    [],
  );
});
