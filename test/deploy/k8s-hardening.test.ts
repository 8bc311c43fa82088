/**
 * deploy/k8s, what keeps the manifests from hurting their operator: deleting a tree never deletes
 * the namespace (and with it every binlog PVC), no Service environment variables and no API token
 * in pods, spread over hosts and zones, network policies that let only proxies reach nodes and only
 * monitoring reach metrics, and the Grafana dashboards as a ConfigMap for the sidecar.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { repoPath } from '../support/deploy-files';
import { type Any, findWorkload, matches, podOf } from '../support/k8s-objects';
import { type K8sObject, renderKustomization } from '../support/kustomize-lite';

const DELETABLE_TREES = ['deploy/k8s/base', 'deploy/k8s/servicemonitor', 'deploy/k8s/overlays/staging'];
const render = (tree: string) => renderKustomization(repoPath(tree)) as Any[] as K8sObject[];
const objects = render('deploy/k8s/servicemonitor');
const workloads = () => [
  findWorkload(objects, 'StatefulSet', 'node'),
  findWorkload(objects, 'Deployment', 'proxy'),
];

test('k8s: `kubectl delete -k` of a tree never deletes a namespace; the namespace has a tree of its own', () => {
  for (const tree of DELETABLE_TREES) {
    const namespaces = render(tree).filter((o) => o.kind === 'Namespace');
    assert.deepEqual(namespaces, [], `${tree} holds no Namespace`);
  }
  const own = render('deploy/k8s/namespace');
  assert.deepEqual(
    own.map((o) => [o.kind, o.metadata.name]),
    [['Namespace', 'stalkd']],
  );
  for (const o of render('deploy/k8s/base')) assert.equal(o.metadata.namespace, 'stalkd', o.metadata.name);
});

test('k8s: pods get no Service environment variables and no service account token', () => {
  // The proxy Service `stalkd` would make Kubernetes inject STALKD_PORT=tcp://… into every pod.
  for (const w of workloads()) {
    assert.equal(podOf(w).spec.enableServiceLinks, false, `${w.metadata.name}: enableServiceLinks`);
    assert.equal(podOf(w).spec.automountServiceAccountToken, false, `${w.metadata.name}: token`);
  }
});

test('k8s: pods of each role spread over hosts and zones', () => {
  for (const w of workloads()) {
    const spread = podOf(w).spec.topologySpreadConstraints ?? [];
    for (const key of ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']) {
      const c = spread.find((x) => x.topologyKey === key);
      assert.ok(c, `${w.metadata.name}: spread over ${key}`);
      assert.ok(matches(c.labelSelector?.matchLabels ?? {}, podOf(w).labels), 'selects its own pods');
    }
  }
});

/** Peers a policy set lets reach `port` (a container port name) of pods labelled `labels`. */
function allowedPeers(labels: Record<string, string>, port: string): Any[][] {
  return (objects as Any[])
    .filter((o) => o.kind === 'NetworkPolicy' && matches(o.spec.podSelector.matchLabels ?? {}, labels))
    .flatMap((p) => p.spec.ingress ?? [])
    .filter((rule: Any) => !rule.ports || rule.ports.some((x: Any) => x.port === port))
    .map((rule: Any) => rule.from ?? [{ anywhere: true }]);
}

test('k8s: network policies: nodes take the protocol only from proxies and the migrate Job, metrics only from monitoring', () => {
  const node = podOf(findWorkload(objects, 'StatefulSet', 'node')).labels;
  const proxy = podOf(findWorkload(objects, 'Deployment', 'proxy')).labels;
  for (const pod of [node, proxy]) {
    const policies = (objects as Any[]).filter(
      (o) => o.kind === 'NetworkPolicy' && matches(o.spec.podSelector.matchLabels ?? {}, pod),
    );
    assert.ok(policies.length > 0 && policies.every((p) => p.spec.policyTypes.includes('Ingress')));
  }
  const monitoring = [
    [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
  ];
  const proxies = { 'app.kubernetes.io/name': 'stalkd', 'app.kubernetes.io/component': 'proxy' };
  assert.ok(matches(proxies, proxy), 'the selector below picks the proxy pods');
  const migrate = { ...proxies, 'app.kubernetes.io/component': 'migrate' };
  assert.deepEqual(allowedPeers(node, 'beanstalk'), [
    [{ podSelector: { matchLabels: proxies } }, { podSelector: { matchLabels: migrate } }],
  ]);
  assert.deepEqual(allowedPeers(node, 'metrics'), monitoring);
  assert.deepEqual(allowedPeers(proxy, 'beanstalk'), [[{ anywhere: true }]], 'clients from any namespace');
  assert.deepEqual(allowedPeers(proxy, 'metrics'), monitoring, 'the dashboard is not cluster-wide');
  for (const w of workloads()) {
    const ports = podOf(w).spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
    assert.deepEqual(ports.sort(), ['beanstalk', 'metrics'], 'every container port is covered above');
  }
});

test('k8s: the Grafana dashboards ship as one ConfigMap labelled for the dashboard sidecar', () => {
  const cm = (objects as Any[]).find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard);
  assert.ok(cm, 'a ConfigMap labelled grafana_dashboard');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  assert.equal(cm.metadata.name, 'stalkd-grafana-dashboards', 'no hash suffix: one copy of each uid');
  const dir = repoPath('grafana', 'dashboards');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.deepEqual(Object.keys(cm.data).sort(), files.sort(), 'every dashboard file');
  for (const f of files) assert.equal(cm.data[f], readFileSync(`${dir}/${f}`, 'utf8'), `${f} unchanged`);
  assert.ok(
    !render('deploy/k8s/base').some((o) => o.metadata.name === cm.metadata.name),
    'servicemonitor tree only',
  );
});
