/**
 * deploy/docker-compose.replicated.yml, checked offline against cluster/compose-replicated.json:
 * every member of every shard is a service with its own named volume, its command line parses
 * with the real CLI, names the shard as the topology does, lists exactly the other members of its
 * shard as --shard-peers, advertises its own service address, and only the entry's own member
 * starts without --standby; members and proxy take the shard token from the shell (compose refuses
 * to start without it); the proxy reads that topology and is the only published service.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTopologyFile, memberAddress, shardMembers } from '../../src/proxy/topology';
import {
  type ComposeFile,
  environmentOf,
  interpolate,
  mountsOf,
  parseOrFail,
  readYaml,
  repoPath,
} from '../support/deploy-files';

const DEPLOY_DIR = repoPath('deploy');
const FILE = join(DEPLOY_DIR, 'docker-compose.replicated.yml');
const compose = readYaml<ComposeFile>(FILE);
const topology = loadTopologyFile(repoPath('cluster', 'compose-replicated.json'));
/** What compose would read from the shell for `${STALKD_SHARD_TOKEN:?…}`. */
const TOKEN = 'test-token-1';
const parsed = Object.entries(compose.services)
  .filter(([, s]) => s.image === 'stalkd:local')
  .map(([name, service]) => ({
    name,
    service,
    parsed: parseOrFail(
      `compose service ${name}`,
      service.command ?? [],
      interpolate(environmentOf(service), { STALKD_SHARD_TOKEN: TOKEN }),
    ),
  }));

test('compose replicated: members and proxy take the shard token from the shell; compose requires it', () => {
  for (const { name, service, parsed: args } of parsed) {
    assert.match(environmentOf(service).STALKD_SHARD_TOKEN ?? '', /^\$\{STALKD_SHARD_TOKEN:\?[^}]+\}$/, name);
    assert.equal(args.valueOf('--shard-token'), TOKEN, `${name}: --shard-token from STALKD_SHARD_TOKEN`);
  }
});

test('compose replicated: every shard member is a service with its own named volume', () => {
  const members = topology.nodes.flatMap((n) => shardMembers(n).map((m) => m.host));
  assert.equal(members.length, 9, '3 shards × (primary + 2 standbys)');
  const nodes = parsed.filter((p) => p.parsed.subcommand === 'node');
  assert.deepEqual(nodes.map((p) => p.name).sort(), [...members].sort());
  const volumes = new Set<string>();
  for (const { name, service, parsed: args } of nodes) {
    const mount = mountsOf(service, DEPLOY_DIR).find((m) => m.target === args.valueOf('-b'));
    assert.ok(mount?.named, `${name}: -b is a named volume`);
    assert.ok(compose.volumes && mount.source in compose.volumes, `${name}: volume declared`);
    assert.ok(!volumes.has(mount.source), `${name}: volume ${mount.source} not shared`);
    volumes.add(mount.source);
  }
});

test('compose replicated: each member names its shard, its peers and itself as the topology does', () => {
  for (const n of topology.nodes) {
    const members = shardMembers(n);
    for (const m of members) {
      const svc = parsed.find((p) => p.name === m.host);
      assert.ok(svc, `member ${memberAddress(m)} is a service`);
      const a = svc.parsed;
      assert.equal(a.valueOf('--node-name'), n.name, `${svc.name}: shard name`);
      assert.equal(a.valueOf('--node-index'), n.index, `${svc.name}: shard index`);
      assert.equal(a.valueOf('-p'), m.port, `${svc.name}: port`);
      assert.equal(a.valueOf('-b'), m.dataDir, `${svc.name}: dataDir`);
      assert.equal(a.valueOf('--advertise'), memberAddress(m), `${svc.name}: advertises itself`);
      const peers = String(a.valueOf('--shard-peers')).split(',').sort();
      const others = members
        .filter((o) => o !== m)
        .map(memberAddress)
        .sort();
      assert.deepEqual(peers, others, `${svc.name}: --shard-peers are the other members`);
      assert.equal(a.valueOf('--standby') === true, m !== n, `${svc.name}: --standby unless the entry's own`);
    }
  }
});

test('compose replicated: the proxy reads the replicated topology and is the only published service', () => {
  const proxy = parsed.find((p) => p.parsed.subcommand === 'proxy');
  assert.ok(proxy);
  const mount = mountsOf(proxy.service, DEPLOY_DIR).find(
    (m) => m.target === proxy.parsed.valueOf('--topology'),
  );
  assert.equal(mount?.source, repoPath('cluster', 'compose-replicated.json'));
  for (const { name, service } of parsed) {
    assert.equal((service.ports ?? []).length > 0, name === 'proxy', `${name}: published ports`);
  }
});

const DOCKER_COMPOSE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) =>
  existsSync(p),
);
if (DOCKER_COMPOSE) {
  test('compose replicated: Debian docker-compose accepts it (config -q), and not without the token', () => {
    const config = (env: Record<string, string>) =>
      spawnSync(DOCKER_COMPOSE, ['-f', FILE, 'config', '-q'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', ...env },
      });
    const r = config({ STALKD_SHARD_TOKEN: TOKEN });
    assert.equal(r.status, 0, r.stderr);
    const unset = config({});
    assert.notEqual(unset.status, 0, 'refuses to start without a shard token');
    assert.match(unset.stderr, /STALKD_SHARD_TOKEN/);
  });
}
