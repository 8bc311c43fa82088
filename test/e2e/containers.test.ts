/**
 * The deployment run for real with podman: the image built from deploy/Dockerfile (`prebuilt`
 * target on the local base image), the shipped deploy/docker-compose.yml brought up by
 * podman-compose (three nodes, the proxy, and a Prometheus from the same base with Debian's
 * prometheus; Grafana has no local image), then: puts and reserves through the published proxy
 * port, the containers' uid and binlog volumes, a SIGTERM drain (`podman stop`) and a SIGKILL, each
 * followed by a restart on the same volume with every acknowledged job back, Prometheus scraping
 * all four targets with the alert rules loaded — and everything torn down (containers, volumes,
 * network, the images it built). Where podman cannot run, one note says why (a failure under CI, which installs it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '../../src/client';
import { decodeJobId } from '../../src/proxy/job-id';
import { freePort, httpGet } from '../support/cli-process';
import {
  buildPrometheusImage,
  buildStalkdImage,
  ComposeProject,
  podmanUnavailable,
  rewriteCompose,
  run,
} from '../support/containers';
import { pollUntil } from '../support/prometheus';
import { whenInstalled } from '../support/requires';
import { replicatedStack } from './containers-replicated';

const unavailable = podmanUnavailable();
const PROJECT = `stalkd-e2e-${process.pid}`;
// Tags of this run only: test suites of several checkouts may run on one machine at once, and
// a shared tag would hand one run the image another just built (from other code).
const STALKD_IMAGE = `localhost/stalkd:e2e-${process.pid}`;
const PROMETHEUS_IMAGE = `localhost/stalkd-prometheus:e2e-${process.pid}`;
const SERVICES = ['node-0', 'node-1', 'node-2', 'proxy', 'prometheus'];
/** A container's first start includes the image's start-up; on a loaded 2-core machine allow plenty. */
const START_TIMEOUT_MS = 90_000;

let stalkdBuilt = false;
/** The stalkd image, built on first use: both stacks run it. */
function stalkdImage(): string {
  if (!stalkdBuilt) buildStalkdImage(STALKD_IMAGE);
  stalkdBuilt = true;
  return STALKD_IMAGE;
}

/** Tears the stack down and checks that none of its containers, volumes or networks is left. */
function tearDownAndCheck(stack: ComposeProject, atLeastVolumes: number): void {
  const volumes = stack.volumes();
  assert.ok(volumes.length >= atLeastVolumes, `the stack's volumes: ${volumes}`);
  stack.teardown();
  assert.deepEqual(stack.containers(), []);
  const left = run('podman', ['volume', 'ls', '-q']).split('\n');
  assert.deepEqual(
    volumes.filter((v) => left.includes(v)),
    [],
  );
  assert.deepEqual(stack.networks(), []);
}

function plainStack(): void {
  describe('containers: the compose stack under podman', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stalkd-e2e-'));
    const stack = new ComposeProject(PROJECT, join(dir, 'docker-compose.yml'));
    const container = (service: string) => stack.container(service);
    const healthy = (service: string) => stack.healthy(service);
    const state = (service: string) => stack.state(service);
    let ports: { proxy: number; metrics: number; prometheus: number };
    let client: Client;
    /** Every acknowledged put still meant to exist: id → body. */
    const ledger = new Map<number, string>();
    let tornDown = false;

    before(async () => {
      const t0 = Date.now();
      stalkdImage();
      buildPrometheusImage(PROMETHEUS_IMAGE);
      const built = Date.now();
      ports = { proxy: await freePort(), metrics: await freePort(), prometheus: await freePort() };
      writeFileSync(
        stack.composeFile,
        rewriteCompose({
          stalkdImage: STALKD_IMAGE,
          prometheusImage: PROMETHEUS_IMAGE,
          hostPorts: { 11300: ports.proxy, 9300: ports.metrics, 9090: ports.prometheus },
          services: SERVICES,
        }),
      );
      stack.up(SERVICES);
      await pollUntil(
        'proxy /readyz 200 on the published metrics port',
        async () =>
          (await httpGet(ports.metrics, '/readyz').catch(() => undefined))?.status === 200 ? true : undefined,
        START_TIMEOUT_MS,
        250,
      );
      client = await Client.connect({ host: '127.0.0.1', port: ports.proxy });
      console.log(`containers: images built in ${built - t0} ms, stack up in ${Date.now() - built} ms`);
    });

    /** Starts a stopped node's container and waits for every job in `jobs` through the proxy. */
    async function startAndFind(service: string, jobs: Array<[number, string]>): Promise<void> {
      run('podman', ['start', container(service)]);
      const back = async () => (healthy(service) ? true : undefined);
      await pollUntil(`${service} healthy again`, back, START_TIMEOUT_MS, 250);
      for (const [id, body] of jobs) {
        const job = await pollUntil(`job ${id}`, async () => (await client.peek(id)) ?? undefined, 10_000);
        assert.equal(job.body.toString(), body, `job ${id}`);
      }
    }

    after(async () => {
      await client?.close();
      if (!tornDown) stack.teardown();
      rmSync(dir, { recursive: true, force: true });
    });

    test('containers: puts and reserves go through the published proxy port to all three nodes', async () => {
      // Tubes until every node owns at least two of them (placement is the proxy's ring).
      const tubesOn = [0, 0, 0];
      for (let t = 0; t < 100 && tubesOn.some((n) => n < 2); t++) {
        await client.use(`e2e-${t}`);
        for (let i = 0; i < 3; i++) {
          const body = `job ${t}.${i}`;
          const id = await client.put(body);
          ledger.set(id, body);
          const node = decodeJobId(id)?.nodeIndex ?? 0;
          if (i === 0) tubesOn[node] = (tubesOn[node] ?? 0) + 1;
        }
      }
      assert.ok(
        tubesOn.every((n) => n >= 2),
        `the tubes spread over every node: ${tubesOn}`,
      );
      await client.watch('e2e-0');
      const job = await client.reserveWithTimeout(5);
      assert.ok(typeof job === 'object', `reserved: ${String(job)}`);
      assert.equal(job.body.toString(), ledger.get(job.id));
      assert.equal(await client.delete(job.id), 'DELETED');
      ledger.delete(job.id);
    });

    test('containers: every node runs as uid 1000, writes its binlog volume and passes its HEALTHCHECK', () => {
      for (const service of ['node-0', 'node-1', 'node-2']) {
        assert.equal(run('podman', ['exec', container(service), 'id', '-u']).trim(), '1000', service);
        const files = run('podman', ['exec', container(service), 'ls', '-ln', '/var/lib/stalkd']);
        const segments = files.split('\n').filter((l) => / seg-\d+\.stalkd$/.test(l));
        assert.ok(segments.length > 0, `${service}: a segment in its volume:\n${files}`);
        for (const line of segments) assert.match(line, /^\S+\s+\d+\s+1000\s+1000\s/, `${service}: ${line}`);
        assert.equal(healthy(service), true, `${service} healthy`);
      }
      assert.equal(healthy('proxy'), true, 'proxy healthy');
    });

    test('containers: podman stop drains a node (SIGTERM, exit 0); started again it serves its jobs', async () => {
      const onNode1 = [...ledger].filter(([id]) => decodeJobId(id)?.nodeIndex === 1);
      assert.ok(onNode1.length > 0);
      run('podman', ['stop', '-t', '30', container('node-1')], 60_000);
      assert.deepEqual(state('node-1'), { exitCode: 0, status: 'exited' });
      const [id] = onNode1[0] as [number, string];
      const refused = await pollUntil(
        'the proxy notices node-1 is gone',
        async () => {
          const r = await client.raw(`peek ${id}`);
          return r.word === 'INTERNAL_ERROR' ? r : undefined;
        },
        10_000,
      );
      assert.equal(refused.line, 'INTERNAL_ERROR');
      await startAndFind('node-1', onNode1);
    });

    test('containers: SIGKILL and a restart on the same volume lose no acknowledged job', async () => {
      await client.use('e2e-kill');
      for (let i = 0; i < 20; i++) {
        const id = await client.put(`kill ${i}`);
        ledger.set(id, `kill ${i}`);
      }
      run('podman', ['kill', '-s', 'KILL', container('node-0')]);
      await pollUntil(
        'node-0 exited',
        async () => (state('node-0').status === 'exited' ? true : undefined),
        10_000,
      );
      assert.equal(state('node-0').exitCode, 137, 'killed by SIGKILL');
      await startAndFind('node-0', [...ledger]);
    });

    test('containers: Prometheus from the same base scrapes the four stalkd targets and loads the alerts', async () => {
      const get = async (path: string) => JSON.parse((await httpGet(ports.prometheus, path)).body);
      await pollUntil(
        'four stalkd targets up',
        async () => {
          const targets = (await get('/api/v1/targets')).data.activeTargets as Array<{
            labels: { job: string };
            health: string;
          }>;
          const up = targets.filter((t) => t.labels.job.startsWith('stalkd-') && t.health === 'up');
          return up.length === 4 ? true : undefined;
        },
        60_000,
        500,
      );
      const groups = (await get('/api/v1/rules')).data.groups as Array<{ file: string; rules: unknown[] }>;
      assert.ok(
        groups.length > 0 && groups.every((g) => g.file.endsWith('.rules.yml') && g.rules.length > 0),
      );
    });

    test('containers: teardown removes every container, volume and network of the stack', () => {
      tornDown = true;
      tearDownAndCheck(stack, 4);
    });
  });
}

whenInstalled(
  unavailable === undefined,
  `podman (${unavailable}; deploy/podman/local-base.sh sets it up)`,
  () => {
    plainStack();
    replicatedStack({ image: stalkdImage, tearDownAndCheck });
    // The images go too (every run builds its own; the layers stay cached).
    test('containers: the images this run built are removed', () => {
      const ours = [STALKD_IMAGE, PROMETHEUS_IMAGE];
      const built = () =>
        run('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}'])
          .split('\n')
          .filter((i) => ours.includes(i));
      const present = built();
      if (present.length > 0) run('podman', ['rmi', ...present]);
      assert.deepEqual(built(), []);
    });
  },
);
