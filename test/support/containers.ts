/**
 * A real container runtime for the deployment test: Debian's podman + podman-compose, images built
 * from a local base (no image registry is reachable from these machines). The base image
 * `localhost/stalkd-base:node` (Debian bookworm minbase + this machine's `node` + user node 1000)
 * comes from deploy/podman/local-base.sh, which .ci/run runs, and service names resolve through
 * the CNI dnsname plugin (.ci/run installs it).
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoPath } from './deploy-files';

export const BASE_IMAGE = 'localhost/stalkd-base:node';

export function run(
  command: string,
  args: readonly string[],
  timeoutMs = 300_000,
  env: Record<string, string> = {},
): string {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr || r.stdout}`);
  }
  return r.stdout;
}

/** `run` without blocking the event loop (clients of the test keep going meanwhile). */
export function runAsync(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${err.message}: ${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

/** Why podman cannot run the deployment here, or undefined when it can. */
export function podmanUnavailable(): string | undefined {
  const ok = (command: string, args: string[]) =>
    spawnSync(command, args, { stdio: 'ignore', timeout: 60_000 }).status === 0;
  if (!ok('podman', ['--version'])) return 'podman is not installed';
  if (!ok('podman-compose', ['version'])) return 'podman-compose is not installed';
  if (!ok('podman', ['info'])) return '`podman info` fails (no usable runtime or cgroups)';
  // Compose services find each other by name: with podman's CNI backend that is the dnsname plugin.
  const backend = spawnSync('podman', ['info', '--format', '{{.Host.NetworkBackend}}'], {
    encoding: 'utf8',
  }).stdout.trim();
  if (backend === 'cni' && !existsSync('/usr/lib/cni/dnsname'))
    return 'no DNS on podman networks (apt-get install golang-github-containernetworking-plugin-dnsname)';
  if (!ok('podman', ['image', 'exists', BASE_IMAGE])) return `no base image ${BASE_IMAGE}`;
  if (!ok('prometheus', ['--version'])) return "Debian's prometheus is not installed";
  return undefined;
}

/** `deploy/Dockerfile --target prebuilt` on the local base, from this checkout's build output. */
export function buildStalkdImage(tag: string): void {
  const ctx = mkdtempSync(join(tmpdir(), 'stalkd-image-'));
  try {
    run('bash', [repoPath('deploy', 'prebuilt-context.sh'), join(ctx, 'ctx')]);
    run('podman', [
      'build',
      '--pull=never',
      '--format',
      'docker',
      '-q',
      '-f',
      repoPath('deploy', 'Dockerfile'),
      '--target',
      'prebuilt',
      '--build-arg',
      `RUNTIME_IMAGE=${BASE_IMAGE}`,
      '-t',
      tag,
      join(ctx, 'ctx'),
    ]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** Prometheus from the same base: Debian's own prometheus binary, run as the unprivileged user. */
export function buildPrometheusImage(tag: string): void {
  const ctx = mkdtempSync(join(tmpdir(), 'stalkd-prom-image-'));
  try {
    copyFileSync(run('sh', ['-c', 'readlink -f "$(command -v prometheus)"']).trim(), join(ctx, 'prometheus'));
    writeFileSync(
      join(ctx, 'Containerfile'),
      [
        `FROM ${BASE_IMAGE}`,
        'COPY prometheus /usr/bin/prometheus',
        'RUN mkdir -p /prometheus && chown node:node /prometheus',
        'USER node',
        'ENTRYPOINT ["/usr/bin/prometheus"]',
        '',
      ].join('\n'),
    );
    run('podman', ['build', '--pull=never', '-q', '-t', tag, ctx]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export interface ComposeRewrite {
  /** The shipped compose file under deploy/ (default docker-compose.yml). */
  file?: string;
  stalkdImage: string;
  /** Needed when the file has a Prometheus service that `services` keeps. */
  prometheusImage?: string;
  /** Host port for each container port published by the shipped file (11300, 9300, 9090). */
  hostPorts: Record<number, number>;
  services: string[];
}

/**
 * A shipped compose file (deploy/docker-compose.yml unless `file` names another) with only what this machine needs changed: the images
 * built locally (no `build:`), free host ports (still on 127.0.0.1), absolute bind sources, and
 * only `services` kept (Grafana has no local image). Commands, volumes, topology and dependencies
 * are the shipped ones.
 */
export function rewriteCompose(rewrite: ComposeRewrite): string {
  const deployDir = repoPath('deploy');
  const compose = parse(readFileSync(join(deployDir, rewrite.file ?? 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as Record<string, unknown> & {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };
  // Extension fields (x-stalkd) were merged into the services already.
  for (const key of Object.keys(compose)) if (key.startsWith('x-')) delete compose[key];
  for (const name of Object.keys(compose.services)) {
    if (!rewrite.services.includes(name)) delete compose.services[name];
  }
  for (const service of Object.values(compose.services)) {
    if (service.build) {
      delete service.build;
      service.image = rewrite.stalkdImage;
    }
    if (String(service.image).startsWith('prom/prometheus')) {
      if (rewrite.prometheusImage === undefined) throw new Error('a Prometheus service and no image for it');
      service.image = rewrite.prometheusImage;
    }
    const ports = ((service.ports as string[] | undefined) ?? []).map((p) => {
      const [ip, , container] = p.split(':');
      const port = rewrite.hostPorts[Number(container)];
      if (ip !== '127.0.0.1' || port === undefined) throw new Error(`unexpected published port ${p}`);
      return `${ip}:${port}:${container}`;
    });
    if (ports.length > 0) service.ports = ports;
    service.volumes = ((service.volumes as string[] | undefined) ?? []).map((v) =>
      v.startsWith('.')
        ? `${resolve(deployDir, v.split(':')[0] as string)}:${v.split(':').slice(1).join(':')}`
        : v,
    );
    if (Array.isArray(service.depends_on)) {
      service.depends_on = service.depends_on.filter((d: string) => rewrite.services.includes(d));
    } else if (service.depends_on) {
      for (const d of Object.keys(service.depends_on as object))
        if (!rewrite.services.includes(d)) delete (service.depends_on as Record<string, unknown>)[d];
    }
  }
  const used = JSON.stringify(compose.services);
  for (const name of Object.keys(compose.volumes)) {
    if (!used.includes(`"${name}:`)) delete compose.volumes[name];
  }
  return stringify(compose);
}

/** A compose project brought up by podman-compose: its containers, volumes and network, and their teardown. */
export class ComposeProject {
  constructor(
    readonly name: string,
    readonly composeFile: string,
  ) {}

  /** podman-compose's container name of `service` (its first and only instance). */
  container(service: string): string {
    return `${this.name}_${service}_1`;
  }

  /** `up -d` of `services`; `env` is the shell compose interpolates `${NAME}` from. */
  up(services: readonly string[], env: Record<string, string> = {}): void {
    run('podman-compose', ['-p', this.name, '-f', this.composeFile, 'up', '-d', ...services], 180_000, env);
  }

  containers(): string[] {
    return lines(
      run('podman', [
        'ps',
        '-a',
        '--filter',
        `label=io.podman.compose.project=${this.name}`,
        '--format',
        '{{.Names}}',
      ]),
    );
  }

  /** Named volumes by label, and the anonymous ones its containers mount. */
  volumes(): string[] {
    const named = lines(
      run('podman', ['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${this.name}`]),
    );
    const mounted = this.containers().flatMap((c) =>
      run('podman', ['inspect', c, '--format', '{{range .Mounts}}{{.Name}} {{end}}']).split(/\s+/),
    );
    return [...new Set([...named, ...mounted])].filter((v) => v !== '');
  }

  networks(): string[] {
    return lines(run('podman', ['network', 'ls', '--format', '{{.Name}}'])).filter((n) =>
      n.startsWith(`${this.name}_`),
    );
  }

  /**
   * Removes the containers (stopped first: SIGTERM, as `down` does), their volumes (named and
   * anonymous) and the project's network — one podman call each, which podman runs in parallel
   * (`podman-compose down -v` goes one container and volume at a time, ~0.4 s each, and leaves
   * the anonymous volumes and the network behind).
   */
  teardown(): void {
    const volumes = this.volumes();
    const containers = this.containers();
    if (containers.length > 0) {
      run('podman', ['stop', '-t', '30', ...containers], 120_000);
      run('podman', ['rm', '-f', '-v', ...containers], 120_000);
    }
    const left = lines(run('podman', ['volume', 'ls', '-q'])).filter((v) => volumes.includes(v));
    if (left.length > 0) run('podman', ['volume', 'rm', '-f', ...left]);
    for (const n of this.networks()) run('podman', ['network', 'rm', '-f', n]);
  }

  /** `stalkd healthcheck` inside the container: the image's own HEALTHCHECK command. */
  healthy(service: string): boolean {
    try {
      return run('podman', [
        'exec',
        this.container(service),
        'node',
        '/app/dist/src/cli/main.js',
        'healthcheck',
      ]).startsWith('healthy');
    } catch {
      return false;
    }
  }

  state(service: string): { exitCode: number; status: string } {
    const [code, status] = run('podman', [
      'inspect',
      this.container(service),
      '--format',
      '{{.State.ExitCode}} {{.State.Status}}',
    ])
      .trim()
      .split(' ');
    return { exitCode: Number(code), status: status as string };
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
