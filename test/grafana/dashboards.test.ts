/**
 * Static checks of grafana/ (no Prometheus needed): dashboards refer only to metrics we export,
 * use the provisioned datasource and defined variables, have the panels issue 5 asks for; the
 * provisioning files point where compose and Kubernetes mount them; docs list every family.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ALL_FAMILIES } from '../../src/metrics/families';
import { exportedNames, GRAFANA_DIR, loadDashboards, metricNames, selectors } from '../support/dashboards';

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
  assert.deepEqual(tubeVar?.labelValues, {
    match: 'stalkd_tube_jobs{cluster=~"$cluster", namespace=~"$namespace"}',
    label: 'tube',
  });
  assert.ok(tube.panels.every((p) => p.exprs.every((e) => e.includes('$tube'))));
});

test('dashboards: the overview shows replication — role, term, in-sync vs configured, lag, catch-ups and full copies', () => {
  const overview = dashboards.find((d) => d.uid === 'stalkd-overview');
  const queried = new Set(overview?.panels.flatMap((p) => p.exprs.flatMap(metricNames)));
  const missing = [
    'stalkd_replication_role',
    'stalkd_replication_term',
    'stalkd_replication_sync_standbys',
    'stalkd_replication_in_sync_standbys',
    'stalkd_replication_waiting',
    'stalkd_replication_alone',
    'stalkd_replication_lag_records',
    'stalkd_replication_lag_bytes',
    'stalkd_replication_lag_seconds',
    'stalkd_replication_catchups_total',
    'stalkd_replication_full_copies_total',
  ].filter((name) => !queried.has(name));
  assert.deepEqual(missing, []);
});

const SCOPE = ['cluster=~"$cluster"', 'namespace=~"$namespace"'];

test('dashboards: cluster and namespace variables (All by default) narrow every query and variable', () => {
  for (const d of dashboards) {
    for (const name of ['cluster', 'namespace']) {
      const v = d.variables.find((x) => x.name === name);
      assert.ok(v?.labelValues, `${d.file}: $${name} from label_values`);
      assert.equal(v.labelValues.label, name);
      assert.deepEqual(
        [v.includeAll, v.allValue],
        [true, '.*'],
        `${d.file}: $${name} All matches an absent label`,
      );
    }
    const unscoped: string[] = [];
    const check = (where: string, expr: string) => {
      for (const s of selectors(expr)) {
        if (!SCOPE.every((m) => s.matchers.includes(m))) unscoped.push(`${where}: ${s.name}${s.matchers}`);
      }
    };
    for (const p of d.panels) for (const e of p.exprs) check(`${d.file} / ${p.title}`, e);
    for (const v of d.variables) {
      if (v.labelValues && !['cluster', 'namespace'].includes(v.name))
        check(`${d.file} / $${v.name}`, v.labelValues.match);
    }
    const ns = d.variables.find((x) => x.name === 'namespace');
    assert.match(
      ns?.labelValues?.match ?? '',
      /cluster=~"\$cluster"/,
      `${d.file}: namespaces of the cluster`,
    );
    assert.deepEqual(unscoped, []);
  }
});

test('dashboards: per-node series are labelled by node name (stalkd_node_info), never by pod address', () => {
  const nodeOnly = new Set(
    ALL_FAMILIES.filter((f) => !f.name.startsWith('stalkd_proxy_') && f.name !== 'stalkd_build_info').map(
      (f) => f.name,
    ),
  );
  for (const d of dashboards) {
    for (const p of d.panels) {
      for (const e of p.exprs) {
        const readsNode = metricNames(e).some((n) => nodeOnly.has(n));
        const byInstance = [...e.matchAll(/\bby \(([^)]*)\)/g)].some(
          (m) => /\binstance\b/.test(m[1] as string) && !/\bstalkd_node\b/.test(m[1] as string),
        );
        if (!readsNode || !byInstance) continue;
        assert.fail(`${d.file} / ${p.title}: groups node series by instance: ${e}`);
      }
      for (const e of p.exprs.filter((x) => /\bstalkd_node\b/.test(x) && !/stalkd_proxy_/.test(x))) {
        assert.match(
          e,
          /group_left \(stalkd_node\).*stalkd_node_info/,
          `${d.file} / ${p.title}: joins the info`,
        );
      }
    }
  }
});

test('dashboards: the overview opens with error replies, buried jobs, oldest ready job and jobs on non-owners', () => {
  const overview = dashboards.find((d) => d.uid === 'stalkd-overview');
  assert.ok(overview);
  const raw = JSON.parse(readFileSync(join(GRAFANA_DIR, 'dashboards', 'stalkd-overview.json'), 'utf8')) as {
    panels: { type: string; title: string; gridPos: { y: number }; targets?: { expr: string }[] }[];
  };
  const top = raw.panels.filter((p) => p.type !== 'row' && p.gridPos.y === 1);
  assert.deepEqual(
    top.map((p) => p.title),
    ['Client error replies', 'Buried jobs', 'Oldest ready job', 'Jobs on non-owners'],
  );
  const exprs = top.map((p) => p.targets?.[0]?.expr ?? '');
  assert.match(exprs[0] as string, /result=~"[^"]*INTERNAL_ERROR[^"]*OUT_OF_MEMORY/);
  assert.match(exprs[1] as string, /stalkd_jobs\{state="buried"/);
  assert.match(exprs[2] as string, /stalkd_oldest_ready_job_age_seconds/);
  assert.match(exprs[3] as string, /stalkd_proxy_jobs_on_non_owners/);
  assert.ok(raw.panels.every((p) => p.type === 'row' || p.gridPos.y >= 1));
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
  const docs = readFileSync(join(GRAFANA_DIR, '..', 'docs', 'metrics.md'), 'utf8');
  const missing = ALL_FAMILIES.filter((f) => !new RegExp(`\`${f.name}\`[^\\n]*\\b${f.type}\\b`).test(docs));
  assert.deepEqual(
    missing.map((f) => f.name),
    [],
  );
});
