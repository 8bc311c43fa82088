/**
 * deploy/docker-compose.yml, checked offline: accepted by Debian's docker-compose, every container
 * command line parsed by the real CLI, and every port and path that healthchecks, Prometheus and
 * Grafana name served by the processes those command lines start. The image: dockerfile.test.ts;
 * Kubernetes: k8s.test.ts; the stack run for real: e2e/containers.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { loadTopologyFile } from '../../src/proxy/topology';
import {
  type ComposeFile,
  durationMs,
  environmentOf,
  mountsOf,
  parseOrFail,
  REPO,
  readYaml,
  repoPath,
  runStackLocally,
} from '../support/deploy-files';

const DEPLOY_DIR = repoPath('deploy');
const compose = readYaml<ComposeFile>(join(DEPLOY_DIR, 'docker-compose.yml'));
const services = compose.services;
const stalkdServices = Object.entries(services).filter(([, s]) => s.image === 'stalkd:local');
const parsedServices = () =>
  stalkdServices.map(([name, s]) => ({
    name,
    service: s,
    parsed: parseOrFail(`compose service ${name}`, s.command ?? [], environmentOf(s)),
  }));

const DOCKER_COMPOSE = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) =>
  existsSync(p),
);
if (DOCKER_COMPOSE) {
  test('deploy/docker-compose.yml: Debian docker-compose accepts it (config -q)', () => {
    const config = (env: Record<string, string>) =>
      spawnSync(DOCKER_COMPOSE, ['-f', join(DEPLOY_DIR, 'docker-compose.yml'), 'config', '-q'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', ...env },
      });
    const r = config({ GRAFANA_ADMIN_PASSWORD: 'a-password' });
    assert.equal(r.status, 0, r.stderr);
    const unset = config({});
    assert.notEqual(unset.status, 0, 'refuses to start Grafana without an admin password');
    assert.match(unset.stderr, /GRAFANA_ADMIN_PASSWORD/);
  });
} else if (process.env.CI) {
  test('deploy/docker-compose.yml: Debian docker-compose accepts it (config -q)', () => {
    assert.fail('docker-compose is not installed; .ci/run must install the Debian package docker-compose');
  });
} else {
  console.log(
    '# deploy: docker-compose not installed (apt-get install docker-compose); config check not run',
  );
}

test('compose: node-0..2 and the proxy share one image built from deploy/Dockerfile', () => {
  assert.deepEqual(stalkdServices.map(([n]) => n).sort(), ['node-0', 'node-1', 'node-2', 'proxy']);
  for (const [name, s] of stalkdServices) {
    assert.ok(s.build, `${name} builds the image`);
    assert.equal(join(DEPLOY_DIR, s.build.context), REPO, `${name}: build context is the repository`);
    assert.ok(existsSync(join(REPO, s.build.dockerfile ?? 'Dockerfile')), `${name}: Dockerfile exists`);
    assert.equal(s.entrypoint, undefined, `${name} keeps the image's entrypoint (the CLI)`);
    assert.ok(durationMs(s.stop_grace_period ?? '10s') >= 10_000, `${name}: grace covers the drain`);
  }
});

test('compose: every stalkd command line parses with the CLI and listens beyond loopback', () => {
  for (const { name, parsed } of parsedServices()) {
    assert.equal(parsed.subcommand, name === 'proxy' ? 'proxy' : 'node', name);
    assert.equal(parsed.valueOf('-l'), '0.0.0.0', `${name}: other containers must reach the protocol port`);
    assert.equal(parsed.valueOf('--metrics-host'), '0.0.0.0', `${name}: Prometheus must reach /metrics`);
    assert.ok((parsed.valueOf('--metrics-port') as number) > 0, `${name}: metrics enabled`);
  }
});

test('compose: each node keeps its binlog on its own named volume', () => {
  const seen = new Set<string>();
  for (const { name, service, parsed } of parsedServices().filter((p) => p.parsed.subcommand === 'node')) {
    const mount = mountsOf(service, DEPLOY_DIR).find((m) => m.target === parsed.valueOf('-b'));
    assert.ok(mount?.named, `${name}: -b ${parsed.valueOf('-b')} is a named volume`);
    assert.ok(compose.volumes && mount.source in compose.volumes, `${name}: volume ${mount.source} declared`);
    assert.ok(!seen.has(mount.source), `${name}: volume ${mount.source} not shared`);
    seen.add(mount.source);
  }
});

/** The proxy's topology file on the host, via the bind mount that puts it at --topology. */
function composeTopologyPath(): string {
  const proxy = parsedServices().find((p) => p.name === 'proxy');
  assert.ok(proxy);
  const mount = mountsOf(proxy.service, DEPLOY_DIR).find(
    (m) => m.target === proxy.parsed.valueOf('--topology'),
  );
  assert.ok(mount && !mount.named, 'the topology is bind-mounted at --topology');
  return mount.source;
}

test('compose: the proxy topology comes from cluster/ and names the node services as they run', () => {
  const path = composeTopologyPath();
  assert.equal(dirname(path), repoPath('cluster'));
  const topology = loadTopologyFile(path);
  const nodes = parsedServices().filter((p) => p.parsed.subcommand === 'node');
  assert.equal(topology.nodes.length, nodes.length);
  for (const n of topology.nodes) {
    const svc = nodes.find((p) => p.name === n.host);
    assert.ok(svc, `topology node ${n.name}: host ${n.host} is a compose node service`);
    assert.equal(n.name, svc.name, 'node names follow the service names');
    assert.equal(n.port, svc.parsed.valueOf('-p'), `${n.name}: port`);
    assert.equal(n.metricsPort, svc.parsed.valueOf('--metrics-port'), `${n.name}: metricsPort`);
    assert.equal(n.dataDir, svc.parsed.valueOf('-b'), `${n.name}: dataDir`);
    assert.equal(svc.parsed.valueOf('--node-name'), n.name, `${n.name}: names itself as the topology does`);
    assert.equal(svc.parsed.valueOf('--node-index'), n.index, `${n.name}: its index`);
  }
  assert.deepEqual(topology.nodes.map((n) => n.index).sort(), [0, 1, 2]);
});

test('compose: published ports land on the proxy listeners; the proxy waits for healthy nodes', () => {
  const proxy = parsedServices().find((p) => p.name === 'proxy');
  assert.ok(proxy);
  const published = new Map(
    (proxy.service.ports ?? []).map((p) => [publishedOf(p).host, publishedOf(p).container]),
  );
  assert.equal(published.get(11300), proxy.parsed.valueOf('-p'), 'clients reach 127.0.0.1:11300');
  assert.equal(published.get(9300), proxy.parsed.valueOf('--metrics-port'), '/metrics on 127.0.0.1:9300');
  for (const [name] of stalkdServices.filter(([n]) => n !== 'proxy')) {
    const deps = proxy.service.depends_on as Record<string, { condition?: string }>;
    assert.equal(deps[name]?.condition, 'service_healthy', `proxy waits for ${name}`);
    assert.equal(services[name]?.healthcheck, undefined, `${name} uses the image's HEALTHCHECK`);
  }
});

/** The host path a bind mount puts at `target` (the file itself or a directory above it). */
function hostPathOf(mounts: ReturnType<typeof mountsOf>, target: string): string | undefined {
  for (const m of mounts) {
    if (m.named) continue;
    if (m.target === target) return m.source;
    if (target.startsWith(`${m.target}/`)) return join(m.source, target.slice(m.target.length + 1));
  }
  return undefined;
}

/** A short-syntax port mapping, `[IP:]HOST:CONTAINER`. */
function publishedOf(mapping: string): { ip: string | undefined; host: number; container: number } {
  const parts = mapping.split(':');
  const container = Number(parts.pop());
  const host = Number(parts.pop());
  return { ip: parts.pop(), host, container };
}

test('compose: every published port binds to 127.0.0.1 only', () => {
  const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, p]));
  assert.ok(published.length >= 4);
  for (const [name, mapping] of published) {
    assert.equal(publishedOf(mapping as string).ip, '127.0.0.1', `${name}: ${mapping}`);
  }
});

test('compose: Grafana has no default admin password; compose requires one', () => {
  const env = environmentOf(services.grafana ?? {});
  assert.match(env.GF_SECURITY_ADMIN_PASSWORD ?? '', /^\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}$/);
  assert.notEqual(env.GF_SECURITY_ADMIN_PASSWORD, 'admin');
});

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: Array<{ targets: string[] }>;
}

function prometheusConfig() {
  const prom = services.prometheus;
  assert.ok(prom, 'a prometheus service');
  const configFile = '/etc/prometheus/prometheus.yml';
  assert.ok((prom.command ?? []).includes(`--config.file=${configFile}`));
  const source = hostPathOf(mountsOf(prom, DEPLOY_DIR), configFile);
  assert.ok(source, 'prometheus.yml is mounted where --config.file points');
  return readYaml<{ global: { scrape_interval: string }; scrape_configs: ScrapeConfig[] }>(source);
}

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
if (PROMTOOL) {
  test('deploy/prometheus/prometheus.yml: promtool check config accepts it', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', repoPath('deploy', 'prometheus', 'prometheus.yml')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
} else {
  console.log('# deploy: promtool not installed (Debian package prometheus); config syntax check not run');
}

test('compose: Prometheus scrapes every stalkd process once, on its metrics port and path', () => {
  const scraped = new Map<string, { job: string; path: string }>();
  for (const job of prometheusConfig().scrape_configs) {
    for (const target of (job.static_configs ?? []).flatMap((s) => s.targets)) {
      const [host = '', port] = target.split(':');
      const svc = parsedServices().find((p) => p.name === host);
      if (!svc) continue;
      assert.equal(Number(port), svc.parsed.valueOf('--metrics-port'), `${target}: the metrics port`);
      assert.ok(!scraped.has(host), `${host} scraped once`);
      scraped.set(host, { job: job.job_name, path: job.metrics_path ?? '/metrics' });
    }
  }
  for (const { name, parsed } of parsedServices()) {
    // The dashboards find nodes and the proxy by these job names (grafana/prometheus-local.yml).
    assert.deepEqual(scraped.get(name), { job: `stalkd-${parsed.subcommand}`, path: '/metrics' }, name);
  }
});

interface Datasource {
  type: string;
  url: string;
  jsonData?: { timeInterval?: string };
}

function grafanaProvisioning() {
  const dir = repoPath('grafana', 'provisioning');
  const read = <T>(sub: string, key: string): T[] =>
    readdirSync(join(dir, sub))
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap((f) => readYaml<Record<string, T[]>>(join(dir, sub, f))[key] ?? []);
  return {
    datasources: read<Datasource>('datasources', 'datasources'),
    providers: read<{ options: { path: string } }>('dashboards', 'providers'),
  };
}

test('compose: Grafana mounts grafana/ as it is and its datasource reaches the Prometheus service', () => {
  const grafana = services.grafana;
  assert.ok(grafana, 'a grafana service');
  const mounts = mountsOf(grafana, DEPLOY_DIR);
  const provisioning = mounts.find((m) => m.target === '/etc/grafana/provisioning');
  assert.equal(provisioning?.source, repoPath('grafana', 'provisioning'));
  const { datasources, providers } = grafanaProvisioning();
  assert.ok(providers.length > 0 && datasources.length > 0);
  for (const provider of providers) {
    const mount = mounts.find((m) => m.target === provider.options.path);
    assert.ok(mount && !mount.named, `dashboards path ${provider.options.path} is bind-mounted`);
    const source = relative(REPO, mount.source);
    assert.ok(source.startsWith('grafana'), `${source} is under grafana/`);
    assert.ok(
      readdirSync(mount.source).some((f) => f.endsWith('.json')),
      `${source} holds dashboards`,
    );
  }
  const prometheus = datasources.find((d) => d.type === 'prometheus');
  assert.ok(prometheus);
  const url = new URL(prometheus.url);
  assert.ok(url.hostname in services, `datasource host ${url.hostname} is a compose service`);
  assert.equal(url.port, '9090', "Prometheus's default listen port");
  assert.ok(!(services[url.hostname]?.command ?? []).some((a) => a.startsWith('--web.listen-address')));
  const interval = prometheusConfig().global.scrape_interval;
  assert.equal(prometheus.jsonData?.timeInterval, interval, 'datasource timeInterval = scrape interval');
});

test('docs/deploy.md: names every port compose publishes', () => {
  const doc = readFileSync(repoPath('docs', 'deploy.md'), 'utf8');
  for (const [name, s] of Object.entries(services)) {
    for (const mapping of s.ports ?? []) {
      const { host } = publishedOf(mapping);
      assert.match(doc, new RegExp(`127\\.0\\.0\\.1:${host}\\b`), `${name}: port ${host} documented`);
    }
  }
});

test('compose: processes started with the compose flags serve what is probed and scraped, exit 0 on SIGTERM', async () => {
  const all = parsedServices();
  // /readyz: what the image's HEALTHCHECK (`stalkd healthcheck`) asks when metrics are on.
  const paths = { node: ['/readyz', '/metrics'], proxy: ['/readyz', '/metrics'] };
  const results = await runStackLocally(
    all.filter((p) => p.parsed.subcommand === 'node').map((p) => ({ name: p.name, parsed: p.parsed })),
    { name: 'proxy', parsed: all.find((p) => p.name === 'proxy')?.parsed ?? assert.fail('no proxy') },
    readFileSync(composeTopologyPath(), 'utf8'),
    paths,
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
