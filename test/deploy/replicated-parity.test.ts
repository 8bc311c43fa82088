/**
 * The replicated compose stack — run for real by test/e2e/containers.test.ts, where a primary is
 * killed and the proxy fails its shard over — and deploy/k8s/replicated (which no test can run
 * here: no cluster) start the same programs: the member of shard i at rank r (compose service
 * node-i / node-i-rR, pod stalkd-node-rR-i) parses to the same options in both, every one of them,
 * defaults included, once each side's names are put in the other's (member addresses, the shard's
 * node name, the order of --shard-peers and whether it lists the member itself); so does the proxy.
 * A flag added to, or changed in, one file and not the other fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTopologyFile, memberAddress, shardMembers, type Topology } from '../../src/proxy/topology';
import {
  type ComposeFile,
  environmentOf,
  interpolate,
  parseOrFail,
  readYaml,
  repoPath,
} from '../support/deploy-files';
import { findWorkload, memberPods, memberSets, only, podEnvironment, podOf } from '../support/k8s-objects';
import { renderKustomization } from '../support/kustomize-lite';

const TOKEN = 'test-token-1';
const compose = readYaml<ComposeFile>(repoPath('deploy', 'docker-compose.replicated.yml'));
const composeTopology = loadTopologyFile(repoPath('cluster', 'compose-replicated.json'));
const k8sTopology = loadTopologyFile(repoPath('cluster', 'kubernetes-replicated', 'topology.json'));
const objects = renderKustomization(repoPath('deploy', 'k8s', 'replicated'));
const pods = memberPods(memberSets(objects), { 'stalkd-shard-token/token': TOKEN });

function composeArgs(service: string) {
  const s = compose.services[service];
  assert.ok(s, `compose service ${service}`);
  const env = interpolate(environmentOf(s), { STALKD_SHARD_TOKEN: TOKEN });
  return parseOrFail(`compose service ${service}`, s.command ?? [], env);
}

/** Member (shard index, rank) → its address, and shard index → its node name, in one topology. */
function names(t: Topology) {
  const address = new Map<string, string>();
  const nodeName = new Map<number, string>();
  for (const n of t.nodes) {
    nodeName.set(n.index, n.name);
    shardMembers(n).forEach((m, rank) => {
      address.set(`${n.index}/${rank}`, memberAddress(m));
    });
  }
  return { address, nodeName };
}

/** Compose's names put in Kubernetes' (by shard and rank), for comparing option values. */
function composeToK8s(): Map<string, string> {
  const from = names(composeTopology);
  const to = names(k8sTopology);
  const map = new Map<string, string>();
  for (const [key, a] of from.address) map.set(a, to.address.get(key) as string);
  for (const [index, name] of from.nodeName) map.set(name, to.nodeName.get(index) as string);
  assert.equal(map.size, 12, '9 members and 3 shard names');
  return map;
}

/** Options with names mapped, --shard-peers without the member itself and sorted. */
function normalized(
  options: Record<string, unknown>,
  rename: (s: string) => string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const map = (v: unknown) => (typeof v === 'string' ? rename(v) : v);
    out[key] = Array.isArray(value) ? value.map(map) : map(value);
  }
  if (Array.isArray(out.shardPeers)) {
    out.shardPeers = (out.shardPeers as string[]).filter((p) => p !== out.advertise).sort();
  }
  return out;
}

test('replicated parity: each member runs the same options in compose and on Kubernetes, names aside', () => {
  const rename = composeToK8s();
  assert.equal(pods.length, 9);
  for (const n of composeTopology.nodes) {
    for (const [rank, m] of shardMembers(n).entries()) {
      const pod = only(
        pods.filter((p) => p.ordinal === n.index && p.rank === rank),
        `pod of shard ${n.index} rank ${rank}`,
      );
      const c = composeArgs(m.host);
      assert.equal(c.subcommand, 'node', m.host);
      assert.equal(pod.args.subcommand, 'node', pod.name);
      assert.deepEqual(
        normalized(c.options, (s) => rename.get(s) ?? s),
        normalized(pod.args.options, (s) => s),
        `compose ${m.host} and pod ${pod.name}`,
      );
    }
  }
});

test('replicated parity: the proxy runs the same options in compose and on Kubernetes', () => {
  const proxy = findWorkload(objects, 'Deployment', 'proxy');
  const c = only(podOf(proxy).spec.containers, 'proxy container');
  const k8s = parseOrFail(
    'k8s proxy',
    c.args ?? [],
    podEnvironment(proxy, c, 0, { 'stalkd-shard-token/token': TOKEN }),
  );
  const composed = composeArgs('proxy');
  assert.equal(composed.subcommand, 'proxy');
  assert.equal(k8s.subcommand, 'proxy');
  assert.deepEqual(composed.options, k8s.options);
  assert.equal(k8s.valueOf('--shard-token'), TOKEN, 'the token, on both sides');
});
