/**
 * deploy/k8s/replicated, checked offline: rendered by kustomize-lite (and `kubectl kustomize`
 * where installed, which must agree), validated against the Kubernetes schemas, and every member
 * pod's command line — args plus the environment as the kubelet makes it for that ordinal —
 * parsed by the real CLI and held against cluster/kubernetes-replicated/topology.json: peers and
 * advertised addresses are pods of the rendered StatefulSets behind the headless Service, members
 * of a shard repel each other across machines, each has a PVC of its own and a budget per shard.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { memberAddress, shardMembers } from '../../src/proxy/topology';
import { parseOrFail, repoPath } from '../support/deploy-files';
import {
  type Any,
  findWorkload,
  type MemberPod,
  matches,
  memberPods,
  memberSets,
  mountedTopology,
  only,
  podEnvironment,
  podOf,
  RANK_LABEL,
} from '../support/k8s-objects';
import { schemaErrors, strictFieldErrors } from '../support/k8s-schema';
import { type K8sObject, renderKustomization, sortObjects } from '../support/kustomize-lite';

const TREE = 'deploy/k8s/replicated';
const objects = renderKustomization(repoPath(TREE));
const SECRETS = { 'stalkd-shard-token/token': 'test-token-1' };
const RANK = RANK_LABEL;

/** The member StatefulSets by rank (0 = initial primaries). */
const sets = memberSets(objects);
const { topology } = mountedTopology(objects);
const proxy = findWorkload(objects, 'Deployment', 'proxy');
const pods: MemberPod[] = memberPods(sets, SECRETS);

/** The headless Service a host `<pod>.<service>` names, and the pod; fails for any other host. */
function podOfHost(host: string): MemberPod {
  const [podName, service, ...rest] = host.split('.');
  assert.deepEqual(rest, [], `${host}: <pod>.<service> in the pod's own namespace`);
  const pod = pods.find((p) => p.name === podName);
  assert.ok(pod, `${host}: ${podName} is a pod of a rendered StatefulSet`);
  assert.equal(pod.set.spec.serviceName, service, `${host}: the pod's StatefulSet governs ${service}`);
  const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === service) as Any;
  assert.ok(svc, `${host}: Service ${service} is rendered`);
  assert.equal(svc.spec.clusterIP, 'None', `${service}: headless, so pods get DNS names`);
  assert.equal(svc.spec.publishNotReadyAddresses, true, `${service}: members resolve before ready`);
  assert.ok(matches(svc.spec.selector, pod.labels), `${service} selects ${podName}`);
  return pod;
}

test('k8s replicated: renders, and every object validates strictly against the Kubernetes schemas', () => {
  assert.deepEqual(schemaErrors(objects), []);
  assert.deepEqual(strictFieldErrors(objects), []);
  assert.deepEqual(
    sets.map((s) => s.metadata.labels[RANK]),
    ['0', '1', '2'],
    'a primary and two standbys per shard',
  );
});

if (spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0) {
  test('k8s replicated: kubectl kustomize renders the same objects as kustomize-lite', () => {
    const r = spawnSync('kubectl', ['kustomize', repoPath(TREE)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const real = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
    assert.deepEqual(sortObjects(objects), sortObjects(real));
  });
}

test('k8s replicated: the topology lists every shard as the pods of the three ranks with its ordinal', () => {
  const { text } = mountedTopology(objects);
  const file = repoPath('cluster', 'kubernetes-replicated', 'topology.json');
  assert.equal(text, readFileSync(file, 'utf8'), 'the ConfigMap is the file');
  for (const set of sets) assert.equal(set.spec.replicas, topology.nodes.length, `${set.metadata.name}`);
  for (const n of topology.nodes) {
    const members = shardMembers(n).map((m) => podOfHost(m.host));
    assert.deepEqual(
      members.map((p) => [p.rank, p.ordinal]),
      sets.map((_, rank) => [rank, n.index]),
      `shard ${n.index}: ranks 0, 1, 2 of ordinal ${n.index}, rank 0 the entry's own`,
    );
  }
});

test('k8s replicated: each member names its shard, itself and its peers as the topology does; only rank 0 starts as primary', () => {
  for (const n of topology.nodes) {
    const members = shardMembers(n);
    for (const m of members) {
      const { args, name, rank } = podOfHost(m.host);
      assert.equal(args.subcommand, 'node', name);
      assert.equal(args.valueOf('--node-name'), n.name, `${name}: shard name`);
      assert.equal(args.valueOf('--node-index'), n.index, `${name}: shard index`);
      assert.equal(args.valueOf('-p'), m.port, `${name}: port`);
      assert.equal(args.valueOf('--metrics-port'), m.metricsPort, `${name}: metrics port`);
      assert.equal(args.valueOf('-b'), m.dataDir, `${name}: binlog directory`);
      assert.equal(args.valueOf('--advertise'), memberAddress(m), `${name}: advertises its own address`);
      const peers = (args.valueOf('--shard-peers') as string[]).filter((p) => p !== memberAddress(m));
      const others = members.filter((o) => o !== m).map(memberAddress);
      assert.deepEqual(peers.sort(), others.sort(), `${name}: --shard-peers are the other members`);
      for (const p of peers) podOfHost(p.split(':')[0] as string);
      assert.equal(args.valueOf('--standby') === true, rank !== 0, `${name}: --standby unless rank 0`);
      assert.equal(args.valueOf('--shard-token'), SECRETS['stalkd-shard-token/token'], `${name}: token`);
    }
  }
  const c = only(podOf(proxy).spec.containers, 'proxy container');
  const proxyArgs = parseOrFail('proxy', c.args ?? [], podEnvironment(proxy, c, 0, SECRETS));
  assert.equal(proxyArgs.valueOf('--shard-token'), SECRETS['stalkd-shard-token/token'], 'proxy: same Secret');
});

test('k8s replicated: the members of one shard never share a machine (required pod anti-affinity)', () => {
  for (const pod of pods) {
    const terms = podOf(pod.set).spec as Any;
    const term = only<Any>(
      terms.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
      'required anti-affinity term',
    );
    assert.equal(term.topologyKey, 'kubernetes.io/hostname');
    // The scheduler adds the incoming pod's values of matchLabelKeys to the term's selector.
    const selector = { ...term.labelSelector.matchLabels };
    for (const key of term.matchLabelKeys ?? []) selector[key] = pod.labels[key];
    const repelled = pods.filter((p) => matches(selector, p.labels)).map((p) => p.name);
    const shard = pods.filter((p) => p.ordinal === pod.ordinal).map((p) => p.name);
    assert.deepEqual(repelled.sort(), shard.sort(), `${pod.name} repels exactly its shard's members`);
  }
});

test('k8s replicated: every member has a ReadWriteOnce PVC of its own at -b; sets never select each other', () => {
  const claims = new Set<string>();
  for (const pod of pods) {
    const c = only(podOf(pod.set).spec.containers, 'container');
    const template = pod.set.spec.volumeClaimTemplates?.find(
      (t: Any) =>
        c.volumeMounts?.find((m) => m.name === t.metadata.name)?.mountPath === pod.args.valueOf('-b'),
    );
    assert.ok(template, `${pod.name}: -b is a volumeClaimTemplate`);
    assert.deepEqual(template.spec.accessModes, ['ReadWriteOnce']);
    const claim = `${template.metadata.name}-${pod.name}`;
    assert.ok(!claims.has(claim), `${claim} is one member's`);
    claims.add(claim);
    assert.equal(pod.set.spec.persistentVolumeClaimRetentionPolicy?.whenScaled, 'Retain');
    assert.equal(pod.set.spec.updateStrategy?.type, 'OnDelete', `${pod.set.metadata.name}: rolled by hand`);
    const selecting = sets.filter((s) => matches(s.spec.selector.matchLabels, pod.labels));
    assert.deepEqual(selecting, [pod.set], `${pod.name}: selected by its own StatefulSet only`);
  }
  assert.equal(claims.size, topology.nodes.length * 3);
});

test('k8s replicated: ranks differ only in name, rank and --standby; the proxy is the base one plus the token', () => {
  const neutral = (set: Any) => {
    const copy = structuredClone(set);
    copy.metadata.name = 'X';
    for (const labels of [
      copy.metadata.labels,
      copy.spec.selector.matchLabels,
      copy.spec.template.metadata.labels,
    ])
      delete labels[RANK];
    const c = copy.spec.template.spec.containers[0];
    c.env = c.env.filter((e: Any) => e.name !== 'STALKD_STANDBY');
    return copy;
  };
  for (const set of sets.slice(1)) assert.deepEqual(neutral(set), neutral(sets[0] as Any), set.metadata.name);
  const base = findWorkload(renderKustomization(repoPath('deploy/k8s/base')), 'Deployment', 'proxy');
  const withoutEnv = (d: Any) => {
    const copy = structuredClone(d);
    delete copy.spec.template.spec.containers[0].env;
    copy.spec.template.spec.volumes[0].configMap.name = 'topology'; // each tree's own, hash-suffixed
    return copy;
  };
  assert.deepEqual(withoutEnv(proxy), withoutEnv(base));
});

test('k8s replicated: one disruption budget per shard, and members reach each other on the node port', () => {
  const pdbs = (objects as Any[]).filter((o) => o.kind === 'PodDisruptionBudget');
  for (const n of topology.nodes) {
    const shard = pods.filter((p) => p.ordinal === n.index);
    const budgets = pdbs.filter((b) => shard.some((p) => matches(b.spec.selector.matchLabels, p.labels)));
    const budget = only(budgets, `budget of shard ${n.index}`);
    assert.equal(budget.spec.maxUnavailable, 1);
    const covered = pods.filter((p) => matches(budget.spec.selector.matchLabels, p.labels));
    assert.deepEqual(covered, shard, `${budget.metadata.name} covers exactly shard ${n.index}`);
  }
  const policies = (objects as Any[]).filter((o) => o.kind === 'NetworkPolicy');
  for (const pod of pods) {
    const rules = policies
      .filter((p) => matches(p.spec.podSelector.matchLabels, pod.labels))
      .flatMap((p) => p.spec.ingress)
      .filter((r: Any) => r.ports?.some((x: Any) => x.port === 'beanstalk'));
    const from = (labels: Record<string, string>) =>
      rules.some((r: Any) =>
        r.from.some((f: Any) => f.podSelector && matches(f.podSelector.matchLabels, labels)),
      );
    assert.ok(from(pods[0]?.labels ?? {}), `${pod.name}: members may reach it`);
    assert.ok(from(podOf(proxy).labels), `${pod.name}: proxies may reach it`);
  }
});

test('docs/deploy.md: the replicated Kubernetes tree, its Secret and the rules for scaling and rolling', () => {
  const doc = readFileSync(repoPath('docs', 'deploy.md'), 'utf8');
  assert.match(doc, /kubectl apply -k deploy\/k8s\/replicated/);
  assert.match(doc, /create secret generic stalkd-shard-token/);
  assert.match(doc, /matchLabelKeys/);
  assert.match(doc, /OnDelete/);
});
