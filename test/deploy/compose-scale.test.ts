/**
 * Scaling the Compose stack (docs/deploy.md, "Docker Compose" under "Scaling the node
 * StatefulSet"), offline: the override file deploy/docker-compose.node-3.yml merges into the main
 * file (Debian's docker-compose accepts both and renders node-3), node-3 is the other nodes with its
 * own name, index and volume, the topology entry the docs give appends to cluster/compose.json as a
 * valid topology that names the services as they run, and the documented migrate line parses with
 * the real CLI and reads the proxy's own mounted topology.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { Placement } from '../../src/proxy/ring';
import { parseTopology } from '../../src/proxy/topology';
import { type ComposeFile, mountsOf, parseOrFail, readYaml, repoPath } from '../support/deploy-files';

const DEPLOY_DIR = repoPath('deploy');
const MAIN = join(DEPLOY_DIR, 'docker-compose.yml');
const OVERRIDE = join(DEPLOY_DIR, 'docker-compose.node-3.yml');
const main = readYaml<ComposeFile>(MAIN);
const override = readYaml<ComposeFile>(OVERRIDE);

/** The docs' Compose scaling paragraph: from its heading words to the next section. */
function composeSection(): string {
  const doc = readFileSync(repoPath('docs', 'deploy.md'), 'utf8');
  const start = doc.indexOf('**Docker Compose** (`deploy/docker-compose.yml`). A fourth node');
  assert.ok(start >= 0, 'docs/deploy.md has the Compose scaling paragraph');
  return doc.slice(start, doc.indexOf('\n## ', start));
}

function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] as string);
}

/** cluster/compose.json with the docs' node-3 entry appended, as the procedure does. */
function scaledTopologyDoc(): { nodes: Array<Record<string, unknown>> } {
  const entry = JSON.parse(codeBlocks(composeSection(), 'json')[0] ?? 'null') as Record<string, unknown>;
  const doc = JSON.parse(readFileSync(repoPath('cluster', 'compose.json'), 'utf8'));
  doc.nodes.push(entry);
  return doc;
}

const DOCKER_COMPOSE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) =>
  existsSync(p),
);
if (DOCKER_COMPOSE) {
  test('compose scale: docker-compose merges the node-3 override into the main file and accepts it', () => {
    const r = spawnSync(DOCKER_COMPOSE, ['-f', MAIN, '-f', OVERRIDE, 'config'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', GRAFANA_ADMIN_PASSWORD: 'a-password' },
    });
    assert.equal(r.status, 0, r.stderr);
    const merged = parse(r.stdout) as ComposeFile;
    const nodes = Object.keys(merged.services).filter((s) => /^node-\d+$/.test(s));
    assert.deepEqual(nodes.sort(), ['node-0', 'node-1', 'node-2', 'node-3']);
    const deps = merged.services.proxy?.depends_on as Record<string, { condition?: string }>;
    assert.deepEqual(
      Object.keys(deps).sort(),
      nodes.sort(),
      'the proxy still waits for node-0..2, and for node-3',
    );
    assert.ok(merged.volumes && 'node-3-binlog' in merged.volumes);
  });
} else {
  console.log('# deploy: docker-compose not installed; the merged Compose file is not rendered');
}

test('compose scale: node-3 is node-2 with its own name, index and binlog volume', () => {
  const node2 = main.services['node-2'];
  const node3 = override.services['node-3'];
  assert.ok(node2 && node3);
  const { command: cmd2, volumes: vol2, ...rest2 } = node2;
  const { command: cmd3, volumes: vol3, ...rest3 } = node3;
  assert.deepEqual(rest3, rest2, 'same image, build, restart policy and stop grace');
  const renumber = (args: string[] | undefined) =>
    (args ?? []).map((a) => a.replace(/^node-2$/, 'node-3').replace(/^2$/, '3'));
  assert.deepEqual(cmd3, renumber(cmd2));
  const parsed = parseOrFail('node-3 command', cmd3 ?? []);
  assert.equal(parsed.valueOf('--node-name'), 'node-3');
  assert.equal(parsed.valueOf('--node-index'), 3);
  const mount = mountsOf(node3, DEPLOY_DIR).find((m) => m.target === parsed.valueOf('-b'));
  assert.ok(mount?.named, 'the binlog is on a named volume');
  assert.equal(mount.source, 'node-3-binlog');
  assert.ok(override.volumes && mount.source in override.volumes, 'declared in the override');
  assert.ok(!(main.volumes && mount.source in main.volumes), 'not a volume of the main file');
  assert.deepEqual(
    vol2?.map((v) => v.replace('node-2', 'node-3')),
    vol3,
  );
});

test('compose scale: the documented entry appended to cluster/compose.json validates and names node-3 as it runs', () => {
  const doc = scaledTopologyDoc();
  const scaled = parseTopology(doc, 'scaled compose.json');
  assert.equal(scaled.nodes.length, 4);
  const node3 = scaled.nodes[3];
  const parsed = parseOrFail('node-3 command', override.services['node-3']?.command ?? []);
  assert.equal(node3?.host, 'node-3', 'host = the compose service name');
  assert.equal(node3?.name, parsed.valueOf('--node-name'));
  assert.equal(node3?.index, parsed.valueOf('--node-index'));
  assert.equal(node3?.port, parsed.valueOf('-p'));
  assert.equal(node3?.metricsPort, parsed.valueOf('--metrics-port'));
  assert.equal(node3?.dataDir, parsed.valueOf('-b'));
  // About a quarter of the names move, all of them to node-3; the others keep their owners.
  const before = new Placement(
    parseTopology(JSON.parse(readFileSync(repoPath('cluster', 'compose.json'), 'utf8'))),
  );
  const after = new Placement(scaled);
  let moved = 0;
  for (let i = 0; i < 2000; i++) {
    const t = `tube-${i}`;
    if (after.ownerOf(t).index === before.ownerOf(t).index) continue;
    moved++;
    assert.equal(after.ownerOf(t).name, 'node-3');
  }
  assert.ok(moved > 300 && moved < 700, `${moved} of 2000 names moved`);
  // Removing it again: marked leaving, it owns nothing (and the file still validates).
  (doc.nodes[3] as Record<string, unknown>).leaving = true;
  const leaving = new Placement(parseTopology(doc, 'leaving'));
  for (let i = 0; i < 500; i++) assert.notEqual(leaving.ownerOf(`tube-${i}`).name, 'node-3');
});

test('compose scale: the documented migrate line parses with the CLI and reads the proxy its mounted topology', () => {
  const script = codeBlocks(composeSection(), 'sh')[0] ?? '';
  const line = script.split('\n').find((l) => l.includes(' run --rm proxy migrate'));
  assert.ok(line, 'the docs run migrate in a proxy container');
  const args = (line.split('run --rm proxy ')[1] ?? '').trim().split(/\s+/);
  const parsed = parseOrFail('migrate line', args);
  assert.equal(parsed.subcommand, 'migrate');
  const proxy = main.services.proxy;
  assert.ok(proxy);
  const proxyArgs = parseOrFail('proxy command', proxy.command ?? []);
  const path = parsed.valueOf('--topology');
  assert.equal(path, proxyArgs.valueOf('--topology'), 'the file the proxy reads');
  const mount = mountsOf(proxy, DEPLOY_DIR).find((m) => m.target === path);
  assert.equal(mount?.source, repoPath('cluster', 'compose.json'), 'bind-mounted from cluster/compose.json');
  assert.match(script, /kill -s HUP proxy/, 'the proxy is told to re-read the file');
  assert.match(script, /-f deploy\/docker-compose\.yml -f deploy\/docker-compose\.node-3\.yml/);
});
