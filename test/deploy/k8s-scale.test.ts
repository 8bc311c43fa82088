/**
 * Scaling the node StatefulSet (docs/deploy.md, "Scaling the node StatefulSet"), offline: the
 * topology ConfigMap's source is regenerated from `replicas` by deploy/k8s/make-topology.js (the
 * committed file is its output; one more replica appends the next ordinal, `--leaving` marks the
 * highest ones for a scale-down), and `stalkd migrate` runs as a Job that mounts the proxies' very
 * ConfigMap, with their environment, args the real CLI accepts, and a network path to the nodes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { Placement } from '../../src/proxy/ring';
import { expandEnvironment, parseTopology } from '../../src/proxy/topology';
import { parseOrFail, repoPath } from '../support/deploy-files';
import {
  type Any,
  containerEnv,
  findWorkload,
  matches,
  mountedTopology,
  only,
  podOf,
} from '../support/k8s-objects';
import { schemaErrors } from '../support/k8s-schema';
import { renderKustomization } from '../support/kustomize-lite';

const ENV = { STALKD_NODE_STATEFULSET: 'stalkd-node', STALKD_NODE_SERVICE: 'stalkd-node' };

/** make-topology.js's output for `args`, as text. */
function generate(...args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'stalkd-topology-'));
  try {
    const out = join(dir, 'topology.json');
    const r = spawnSync(process.execPath, [repoPath('deploy', 'k8s', 'make-topology.js'), ...args], {
      env: { ...process.env, STALKD_TOPOLOGY_OUT: out },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(out, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const topologyOf = (text: string) => parseTopology(JSON.parse(expandEnvironment(text, 'generated', ENV)));

test('k8s scale: cluster/kubernetes.json is make-topology.js output for the StatefulSet replicas', () => {
  assert.equal(generate(), readFileSync(repoPath('cluster', 'kubernetes.json'), 'utf8'));
});

test('k8s scale: one more replica appends the next ordinal; --leaving marks the highest for a scale-down', () => {
  const three = topologyOf(generate());
  const four = topologyOf(generate('--replicas', '4'));
  assert.equal(four.nodes.length, 4);
  assert.deepEqual(four.nodes.slice(0, 3), three.nodes, 'existing nodes unchanged: their ids keep meaning');
  const added = four.nodes[3];
  assert.equal(added?.name, 'stalkd-node-3');
  assert.equal(added?.host, 'stalkd-node-3.stalkd-node');
  // About a quarter of the tube names move, all of them to the new node.
  const before = new Placement(three);
  const after = new Placement(four);
  let moved = 0;
  for (let i = 0; i < 2000; i++) {
    const t = `tube-${i}`;
    if (after.ownerOf(t).index === before.ownerOf(t).index) continue;
    moved++;
    assert.equal(after.ownerOf(t).index, 3);
  }
  assert.ok(moved > 300 && moved < 700, `${moved} of 2000 names moved`);
  const leaving = topologyOf(generate('--replicas', '4', '--leaving', '3'));
  assert.equal(leaving.nodes[3]?.leaving, true);
  assert.ok(!leaving.nodes.slice(0, 3).some((n) => n.leaving));
  const leavingPlacement = new Placement(leaving);
  for (let i = 0; i < 500; i++) assert.notEqual(leavingPlacement.ownerOf(`tube-${i}`).index, 3);
});

test('k8s scale: the migrate Job validates, mounts the proxies ConfigMap with their environment, and may reach the nodes', () => {
  const job = renderKustomization(repoPath('deploy', 'k8s', 'migrate'));
  assert.deepEqual(schemaErrors(job), []);
  const base = renderKustomization(repoPath('deploy', 'k8s', 'base'));
  const migrate = job.find((o) => o.kind === 'Job') as Any;
  assert.ok(migrate);
  const pod = podOf(migrate);
  const container = only(pod.spec.containers, 'migrate container');
  const parsed = parseOrFail('Job args', container.args ?? []);
  const path = parsed.valueOf('--topology') as string;
  const mount = container.volumeMounts?.find((m) => m.mountPath === posix.dirname(path));
  const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
  const proxyTopology = mountedTopology(base);
  assert.equal(volume?.configMap?.name, proxyTopology.cm.metadata.name, 'the same (hashed) ConfigMap');
  const cm = job.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name) as Any;
  const expanded = expandEnvironment(cm.data[posix.basename(path)], 'job', containerEnv(container));
  assert.equal(expanded, proxyTopology.expanded, 'the topology as the proxies read it');
  assert.equal(migrate.spec.template.spec.restartPolicy, 'Never');
  const nodePods = podOf(findWorkload(base, 'StatefulSet', 'node')).labels;
  const policy = (base as Any[]).find(
    (o) => o.kind === 'NetworkPolicy' && matches(o.spec.podSelector.matchLabels ?? {}, nodePods),
  ) as Any;
  const admitted = policy.spec.ingress
    .filter((rule: Any) => rule.ports.some((p: Any) => p.port === 'beanstalk'))
    .flatMap((rule: Any) => rule.from)
    .some((peer: Any) => peer.podSelector && matches(peer.podSelector.matchLabels, pod.labels));
  assert.ok(admitted, 'the node NetworkPolicy admits the migrate pods on the protocol port');
});
