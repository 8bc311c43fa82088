/**
 * deploy/k8s, checked offline: rendered by kustomize-lite (and by the real `kubectl kustomize`
 * where installed, which must agree), every object validated against the Kubernetes schemas,
 * container args parsed by the real CLI, and every port and path that probes, annotations and
 * ServiceMonitors name served by the processes those args start.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Placement } from '../../src/proxy/ring';
import { expandEnvironment, parseTopology } from '../../src/proxy/topology';
import { IMAGE_USER, parseOrFail, readYaml, repoPath, runStackLocally } from '../support/deploy-files';
import {
  type Any,
  type Container,
  containerPort,
  findWorkload,
  matches,
  mountedTopology,
  only,
  podOf,
} from '../support/k8s-objects';
import { schemaErrors, strictFieldErrors } from '../support/k8s-schema';
import { type K8sObject, renderKustomization, sortObjects } from '../support/kustomize-lite';

const TREES = [
  'deploy/k8s/namespace',
  'deploy/k8s/base',
  'deploy/k8s/servicemonitor',
  'deploy/k8s/overlays/staging',
];
const rendered = new Map(TREES.map((t) => [t, renderKustomization(repoPath(t))]));
/** The ServiceMonitor tree is the base plus ServiceMonitors: every object once. */
const objects = rendered.get('deploy/k8s/servicemonitor') as K8sObject[];

const sts = findWorkload(objects, 'StatefulSet', 'node');
const proxy = findWorkload(objects, 'Deployment', 'proxy');
const nodeContainer = only(podOf(sts).spec.containers, 'node container');
const proxyContainer = only(podOf(proxy).spec.containers, 'proxy container');
const nodeArgs = () => parseOrFail('StatefulSet args', nodeContainer.args ?? []);
const proxyArgs = () => parseOrFail('Deployment args', proxyContainer.args ?? []);

for (const tree of TREES) {
  test(`k8s: ${tree} renders and every object validates against the Kubernetes schemas`, () => {
    const objs = rendered.get(tree) as K8sObject[];
    assert.ok(objs.length > 0);
    assert.deepEqual(schemaErrors(objs), []);
  });
}

test('k8s: no rendered object has a field unknown to the Kubernetes API (kubectl validates strictly)', () => {
  assert.deepEqual(strictFieldErrors(objects), []);
});

const KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
if (KUBECTL) {
  for (const tree of TREES) {
    test(`k8s: kubectl kustomize ${tree} renders the same objects as kustomize-lite`, () => {
      const r = spawnSync('kubectl', ['kustomize', repoPath(tree)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const real = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
      assert.deepEqual(sortObjects(rendered.get(tree) as K8sObject[]), sortObjects(real));
    });
  }
} else {
  // kubectl comes from neither Debian's nor npm's registry, so CI cannot install it: the renderer
  // in test/support/kustomize-lite.ts stands in (and was checked against kubectl where present).
  console.log('# deploy-k8s: kubectl not installed; rendered with kustomize-lite only');
}

test('k8s: the topology ConfigMap is cluster/kubernetes.json, mounted where the proxy --topology reads', () => {
  const { cm, text } = mountedTopology(objects);
  assert.equal(text, readFileSync(repoPath('cluster', 'kubernetes.json'), 'utf8'), 'generated from the file');
  assert.match(cm.metadata.name, /^stalkd-topology-[a-z0-9]{10}$/, 'hash suffix: edits roll the proxies');
});

/**
 * The topology the proxy loads names every node pod by its rendered name and stable DNS name
 * (pod ordinal = node index), with the node's own port, metrics port and data directory.
 */
function checkTopologyMatchesPods(objs: readonly K8sObject[]): void {
  const set = findWorkload(objs, 'StatefulSet', 'node');
  const container = only(podOf(set).spec.containers, 'node container');
  const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === set.spec.serviceName) as Any;
  assert.ok(svc, 'serviceName is a rendered Service');
  assert.equal(svc.spec.clusterIP, 'None', 'headless');
  assert.equal(svc.spec.publishNotReadyAddresses, true, 'nodes resolve while replaying');
  assert.ok(matches(svc.spec.selector, podOf(set).labels), 'the Service selects the node pods');
  const { topology } = mountedTopology(objs);
  const args = parseOrFail('StatefulSet args', container.args ?? []);
  assert.equal(topology.nodes.length, set.spec.replicas, 'one topology node per replica');
  for (const n of topology.nodes) {
    const pod = `${set.metadata.name}-${n.index}`;
    assert.equal(n.name, pod, `index ${n.index} is pod ${pod}`);
    assert.equal(n.host, `${pod}.${svc.metadata.name}`, `${pod}: stable DNS name`);
    assert.equal(n.port, args.valueOf('-p'), `${pod}: port`);
    assert.equal(n.metricsPort, args.valueOf('--metrics-port'), `${pod}: metricsPort`);
    assert.equal(n.dataDir, args.valueOf('-b'), `${pod}: dataDir`);
    const svcPort = svc.spec.ports.find((p: Any) => p.port === n.port);
    assert.equal(containerPort(container, svcPort?.targetPort), n.port, `${pod}: Service port reaches -p`);
  }
  const claim = set.spec.volumeClaimTemplates?.find(
    (t: Any) =>
      container.volumeMounts?.find((m) => m.name === t.metadata.name)?.mountPath === args.valueOf('-b'),
  );
  assert.ok(claim, 'the binlog directory (-b) is a PersistentVolumeClaim per pod');
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
}

test('k8s: nodes are a StatefulSet whose pod ordinal is the topology node index', () => {
  checkTopologyMatchesPods(objects);
});

test('k8s: each node names itself as the topology does: host name = pod name, index = pod ordinal', () => {
  const parsed = nodeArgs();
  assert.equal(parsed.sourceOf('--node-name'), 'default', '--node-name defaults to the host name');
  const env = nodeContainer.env?.find((e) => e.name === 'STALKD_NODE_INDEX') as Any | undefined;
  assert.equal(env?.valueFrom?.fieldRef?.fieldPath, "metadata.labels['apps.kubernetes.io/pod-index']");
  const withIndex = parseOrFail('StatefulSet args', nodeContainer.args ?? [], { STALKD_NODE_INDEX: '2' });
  assert.equal(withIndex.valueOf('--node-index'), 2, 'STALKD_NODE_INDEX is read by --node-index');
});

test('k8s: a namePrefix overlay names its own pods in the topology (kustomize replacements)', () => {
  const overlay = rendered.get('deploy/k8s/overlays/staging') as K8sObject[];
  checkTopologyMatchesPods(overlay);
  const { topology } = mountedTopology(overlay);
  for (const n of topology.nodes) {
    assert.match(n.name, /^staging-/, `${n.name}: never a node of the unprefixed installation`);
    assert.match(n.host, /^staging-[^.]+\.staging-/, n.host);
  }
  for (const o of overlay) assert.match(o.metadata.name, /^staging-/, `${o.kind} ${o.metadata.name}`);
  const replacementsOf = (tree: string) =>
    (readYaml(repoPath(tree, 'kustomization.yaml')) as { replacements?: unknown }).replacements;
  assert.deepEqual(
    replacementsOf('deploy/k8s/overlays/staging'),
    replacementsOf('deploy/k8s/base'),
    'the overlay repeats the base replacements (kustomize runs them before the overlay renames)',
  );
});

test('k8s: container args parse with the CLI and the image entrypoint (the CLI) is kept', () => {
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  for (const [c, sub] of [
    [nodeContainer, 'node'],
    [proxyContainer, 'proxy'],
  ] as const) {
    assert.equal(c.command, undefined, `${c.name}: no command override`);
    const args = parseOrFail(`${c.name} args`, c.args ?? []);
    assert.equal(args.subcommand, sub);
    assert.equal(args.valueOf('-l'), '0.0.0.0', `${c.name}: reachable from other pods`);
    assert.equal(args.valueOf('--metrics-host'), '0.0.0.0', `${c.name}: reachable by probes and Prometheus`);
    assert.equal(containerPort(c, 'beanstalk'), args.valueOf('-p'), `${c.name}: beanstalk port`);
    assert.equal(containerPort(c, 'metrics'), args.valueOf('--metrics-port'), `${c.name}: metrics port`);
    assert.equal(c.image, `stalkd:${pkg.version}`, `${c.name}: image tag follows package.json`);
  }
});

test('k8s: probes ask /livez and /readyz on the metrics port; nodes get a startup probe', () => {
  for (const [workload, c, args] of [
    [sts, nodeContainer, nodeArgs()],
    [proxy, proxyContainer, proxyArgs()],
  ] as const) {
    const name = workload.metadata.name;
    const metricsPort = args.valueOf('--metrics-port');
    assert.equal(c.livenessProbe?.httpGet?.path, '/livez', `${name}: liveness is process-local`);
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${name}: readiness`);
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      if (probe?.httpGet)
        assert.equal(containerPort(c, probe.httpGet.port), metricsPort, `${name}: probe port`);
    }
  }
  assert.equal(
    nodeContainer.startupProbe?.httpGet?.path,
    '/livez',
    'long binlog replays do not trip liveness',
  );
});

test('k8s: scrape annotations and ServiceMonitors point at the metrics port and /metrics', () => {
  for (const [workload, c, args] of [
    [sts, nodeContainer, nodeArgs()],
    [proxy, proxyContainer, proxyArgs()],
  ] as const) {
    const { annotations, labels } = podOf(workload);
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(annotations['prometheus.io/port'], String(args.valueOf('--metrics-port')));
    assert.equal(annotations['prometheus.io/path'], '/metrics');
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor') as Any[];
    const services = objects.filter((o) => o.kind === 'Service' && matches((o as Any).spec.selector, labels));
    const monitor = monitors.find((m) =>
      services.some((s) => matches(m.spec.selector.matchLabels, s.metadata.labels ?? {})),
    );
    assert.ok(monitor, `a ServiceMonitor selects a Service of ${workload.metadata.name}`);
    assert.equal(monitor.metadata.namespace, workload.metadata.namespace, 'same namespace as the Services');
    const endpoint = only<Any>(monitor.spec.endpoints, 'endpoint');
    assert.equal(endpoint.path, '/metrics');
    const service = services.find((s) =>
      matches(monitor.spec.selector.matchLabels, s.metadata.labels ?? {}),
    ) as Any;
    const port = service.spec.ports.find((p: Any) => p.name === endpoint.port);
    assert.equal(
      containerPort(c, port?.targetPort),
      args.valueOf('--metrics-port'),
      'Service port → metrics',
    );
  }
});

test('k8s: at least 2 proxy replicas behind a Service on the protocol port; PDBs for both roles', () => {
  assert.ok(proxy.spec.replicas >= 2);
  const svc = objects.find(
    (o) => o.kind === 'Service' && matches((o as Any).spec.selector, podOf(proxy).labels),
  );
  const port = (svc as Any)?.spec.ports.find((p: Any) => p.port === 11300);
  assert.equal(containerPort(proxyContainer, port?.targetPort), proxyArgs().valueOf('-p'));
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget') as Any[];
  const pdbFor = (w: Any) => pdbs.find((p) => matches(p.spec.selector.matchLabels, podOf(w).labels));
  assert.equal(pdbFor(sts)?.spec.maxUnavailable, 1, 'nodes: one voluntary disruption at a time');
  assert.ok(pdbFor(proxy)?.spec.minAvailable < proxy.spec.replicas, 'proxies: a drain can proceed');
  assert.ok(pdbFor(proxy)?.spec.minAvailable >= 1, 'proxies: one keeps serving');
});

test('k8s: the termination grace period covers preStop and the drain', () => {
  for (const [workload, c, args] of [
    [sts, nodeContainer, nodeArgs()],
    [proxy, proxyContainer, proxyArgs()],
  ] as const) {
    const graceMs = (podOf(workload).spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
    const preStopMs = preStop[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
    // A drain deadline flag, if the subcommand has one, must fit; the processes themselves stop
    // in well under a second (the live test below measures it).
    const drainKey = Object.keys(args.options).find((k) => /^(drain|shutdown|stop)\w*Ms$/i.test(k));
    const drainMs = drainKey ? Number(args.options[drainKey]) : 10_000;
    assert.ok(graceMs >= preStopMs + drainMs + 5000, `${workload.metadata.name}: ${graceMs} ms grace`);
  }
});

test('k8s: pods run as the image user, non-root, and the node volume is group-writable', () => {
  for (const w of [sts, proxy]) {
    const sc = podOf(w).spec.securityContext;
    assert.equal(sc?.runAsNonRoot, true);
    assert.equal(sc?.runAsUser, IMAGE_USER.uid);
  }
  assert.equal(podOf(sts).spec.securityContext?.fsGroup, IMAGE_USER.uid, 'the PVC is writable by the node');
});

test('k8s: processes started with the k8s args serve every probed and scraped path, exit 0 on SIGTERM', async () => {
  const pathsOf = (w: Any, c: Container) => [
    ...new Set([
      ...[c.startupProbe, c.livenessProbe, c.readinessProbe].flatMap((p) =>
        p?.httpGet ? [p.httpGet.path] : [],
      ),
      podOf(w).annotations['prometheus.io/path'] as string,
      ...(objects.filter((o) => o.kind === 'ServiceMonitor') as Any[]).map((m) => m.spec.endpoints[0].path),
    ]),
  ];
  const { topology, expanded } = mountedTopology(objects);
  const results = await runStackLocally(
    topology.nodes.map((n) => ({ name: n.name, parsed: nodeArgs() })),
    { name: 'stalkd-proxy', parsed: proxyArgs() },
    expanded,
    { node: pathsOf(sts, nodeContainer), proxy: pathsOf(proxy, proxyContainer) },
  );
  for (const r of results) {
    for (const [path, status] of r.statuses) assert.equal(status, 200, `${r.name} ${path}`);
    assert.deepEqual(
      [r.stop.code, r.stop.signal],
      [0, null],
      `${r.name} exits 0 on SIGTERM: ${r.stop.stderr}`,
    );
  }
});

test('docs/deploy.md: adding a 4th node moves about 1/4 of tubes, every one of them to the new node', () => {
  const env = { STALKD_NODE_STATEFULSET: 'stalkd-node', STALKD_NODE_SERVICE: 'stalkd-node' };
  const text = readFileSync(repoPath('cluster', 'kubernetes.json'), 'utf8');
  const base = JSON.parse(expandEnvironment(text, 'cluster/kubernetes.json', env));
  const before = new Placement(parseTopology(base));
  const next = { name: 'stalkd-node-3', index: 3, host: 'stalkd-node-3.stalkd-node', port: 11300 };
  const after = new Placement(parseTopology({ ...base, nodes: [...base.nodes, next] }));
  const tubes = Array.from({ length: 20_000 }, (_, i) => `tube-${i}`);
  const moved = tubes.filter((t) => before.ownerOf(t).name !== after.ownerOf(t).name);
  for (const t of moved) assert.equal(after.ownerOf(t).name, 'stalkd-node-3', `${t} moved between old nodes`);
  const share = moved.length / tubes.length;
  assert.ok(share > 0.15 && share < 0.35, `moved ${share}`);
  const doc = readFileSync(repoPath('docs', 'deploy.md'), 'utf8');
  assert.match(doc, /1\/\(N\+1\)/);
});
