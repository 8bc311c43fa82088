/**
 * deploy/Dockerfile, checked offline: stages and targets (the default `runtime` compiles in the
 * build; `prebuilt` takes artifacts laid out by deploy/prebuilt-context.sh), base images as build
 * arguments defaulting to the current Node.js LTS, OCI labels, the unprivileged user, the PID-1
 * entrypoint, CMD parsed by the real CLI, and the HEALTHCHECK — `stalkd healthcheck`, which repeats
 * no flag — passing against the CMD process and failing without it. e2e/containers.test.ts builds
 * and runs the image for real where podman can.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { replaceOptionValues } from '../support/cli-capture';
import { CLI_PATH, freePort, startCli } from '../support/cli-process';
import { IMAGE_USER, parseOrFail, repoPath } from '../support/deploy-files';
import {
  argDefaults,
  effectiveStage,
  execForm,
  lastInstruction,
  parseDockerfile,
} from '../support/dockerfile';

const text = readFileSync(repoPath('deploy', 'Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(text);
const stage = (name: string) => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `a stage named ${name}`);
  return effectiveStage(dockerfile, found);
};
const runtime = stage('runtime');
/** `${NAME}` as a Dockerfile writes a build argument. */
const argRef = (name: string) => `$\{${name}}`;
const prebuilt = stage('prebuilt');
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: { node: string };
};

function imageCommand() {
  const cmd = execForm(lastInstruction(runtime, 'CMD')?.args ?? '');
  assert.ok(cmd, 'CMD must be in exec form');
  return parseOrFail('Dockerfile CMD', cmd);
}

/** The HEALTHCHECK command (exec form). */
function healthcheckCommand(): string[] {
  const hc = lastInstruction(runtime, 'HEALTHCHECK');
  assert.ok(hc, 'the image has a HEALTHCHECK');
  const m = /^CMD\s+(\[.*\])$/.exec(hc.args);
  assert.ok(m, `HEALTHCHECK must use CMD in exec form, got: ${hc.args}`);
  return execForm(m[1] as string) ?? [];
}

test('deploy/Dockerfile: the default target is runtime; it copies only build output, builds nothing', () => {
  assert.equal(dockerfile.stages.at(-1)?.name, 'runtime', 'the last stage is what a plain build makes');
  const own = dockerfile.stages.at(-1)?.instructions ?? [];
  const copies = own.filter((i) => i.keyword === 'COPY');
  assert.ok(copies.length > 0 && copies.every((c) => c.flags.from === 'build'), 'runtime copies from build');
  for (const run of runtime.instructions.filter((i) => i.keyword === 'RUN')) {
    assert.doesNotMatch(run.args, /\btsc\b|npm (ci|install)/, `runtime stage builds: ${run.args}`);
  }
  const build = stage('build');
  assert.ok(
    build.instructions.some((i) => i.keyword === 'RUN' && /\btsc\b/.test(i.args)),
    'build runs tsc',
  );
  assert.ok(
    build.instructions.some(
      (i) => i.keyword === 'RUN' && /npm prune --omit=dev|npm ci --omit=dev/.test(i.args),
    ),
    'production dependencies only',
  );
});

test('deploy/Dockerfile: base images are build arguments; the default is the current Node.js LTS', () => {
  const args = argDefaults(text);
  assert.match(args.NODE_IMAGE ?? '', /^node:(\d+)-/);
  const major = Number(/^node:(\d+)/.exec(args.NODE_IMAGE ?? '')?.[1]);
  // Node 20 reached end of life in April 2026 and 22 is in maintenance; 26 is the active LTS.
  assert.ok(major >= 26 && major % 2 === 0, `NODE_IMAGE ${args.NODE_IMAGE}: an LTS line`);
  assert.equal(args.RUNTIME_IMAGE, argRef('NODE_IMAGE'), 'runs on the image it built with, unless told');
  assert.equal(dockerfile.stages.find((s) => s.name === 'build')?.image, argRef('NODE_IMAGE'));
  assert.equal(dockerfile.stages.find((s) => s.name === 'base')?.image, argRef('RUNTIME_IMAGE'));
  // The package keeps running on older LTS lines: this suite runs on the machine's Node.
  assert.equal(pkg.engines.node, '>=20');
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20);
});

test('deploy/Dockerfile: OCI labels name the image, its version and licence', () => {
  const labels = Object.fromEntries(
    [
      ...(lastInstruction(runtime, 'LABEL')?.args ?? '').matchAll(
        /(org\.opencontainers\.image\.[a-z]+)="([^"]*)"/g,
      ),
    ].map((m) => [m[1], m[2]]),
  );
  for (const key of ['title', 'description', 'version', 'revision', 'created', 'licenses']) {
    assert.ok(labels[`org.opencontainers.image.${key}`], `label ${key}`);
  }
  assert.equal(labels['org.opencontainers.image.version'], argRef('VERSION'));
  assert.equal(argDefaults(text).VERSION, pkg.version, 'ARG VERSION follows package.json');
  assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
});

test('deploy/Dockerfile: both targets run as the unprivileged image user, before the entrypoint', () => {
  for (const s of [runtime, prebuilt]) {
    assert.equal(lastInstruction(s, 'USER')?.args, IMAGE_USER.name);
    const userIndex = s.instructions.findIndex((i) => i.keyword === 'USER');
    const entryIndex = s.instructions.findIndex((i) => i.keyword === 'ENTRYPOINT');
    assert.ok(userIndex < entryIndex, 'USER comes before the entrypoint');
  }
});

test('deploy/Dockerfile: ENTRYPOINT execs the built CLI directly, so SIGTERM reaches it as PID 1', () => {
  const entry = execForm(lastInstruction(runtime, 'ENTRYPOINT')?.args ?? '');
  assert.ok(entry, 'exec form: a shell form would make /bin/sh PID 1, which does not forward SIGTERM');
  const workdir = lastInstruction(runtime, 'WORKDIR')?.args ?? '/';
  assert.deepEqual(entry, ['node', posix.join(workdir, pkg.bin.stalkd as string)]);
  assert.ok(existsSync(repoPath(pkg.bin.stalkd as string)), 'tsc produces the entrypoint script');
  assert.equal(lastInstruction(runtime, 'STOPSIGNAL')?.args, 'SIGTERM');
  assert.match(text, /PID 1/, 'the file explains its PID-1 signal handling');
});

test('deploy/Dockerfile: prebuilt and runtime put the same files in the same places', () => {
  const targets = (s: typeof runtime) =>
    s.instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.args.split(/\s+/).at(-1))
      .sort();
  assert.deepEqual(targets(prebuilt), targets(runtime));
  const sources = (s: typeof runtime) =>
    s.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(/\s+/)[0]);
  assert.deepEqual(
    sources(prebuilt).sort(),
    sources(runtime)
      .map((src) => (src ?? '').replace(/^\/src\//, ''))
      .sort(),
  );
});

test('deploy/prebuilt-context.sh lays out every prebuilt COPY source, with production dependencies only', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'stalkd-ctx-')), 'ctx');
  try {
    const r = spawnSync('bash', [repoPath('deploy', 'prebuilt-context.sh'), out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const copy of prebuilt.instructions.filter((i) => i.keyword === 'COPY' && !i.flags.from)) {
      for (const source of copy.args.split(/\s+/).slice(0, -1)) {
        assert.ok(existsSync(join(out, source)), `context has ${source}`);
      }
    }
    const modules = readdirSync(join(out, 'node_modules'));
    for (const dep of Object.keys(JSON.parse(readFileSync(repoPath('package.json'), 'utf8')).dependencies)) {
      assert.ok(existsSync(join(out, 'node_modules', dep, 'package.json')), `dependency ${dep}`);
    }
    for (const dev of ['typescript', '@biomejs', 'playwright-core', 'fivebeans', 'yaml']) {
      assert.ok(!modules.includes(dev), `no dev dependency ${dev}`);
    }
    const loaded = spawnSync(process.execPath, [join(out, 'dist', 'src', 'cli', 'main.js'), '--version'], {
      encoding: 'utf8',
      cwd: out,
    });
    assert.equal(loaded.stdout.trim(), pkg.version, `the laid-out CLI runs: ${loaded.stderr}`);
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});

test('deploy/Dockerfile: CMD parses with the CLI; VOLUME is its binlog directory', () => {
  const cmd = imageCommand();
  assert.equal(cmd.subcommand, 'node');
  const volume = execForm(lastInstruction(runtime, 'VOLUME')?.args ?? '') ?? [];
  assert.ok(volume.includes(cmd.valueOf('-b') as string), `VOLUME ${volume} holds -b`);
});

test('deploy/Dockerfile: the HEALTHCHECK is `stalkd healthcheck` and repeats no flag of the CMD', () => {
  const entry = execForm(lastInstruction(runtime, 'ENTRYPOINT')?.args ?? '') ?? [];
  assert.deepEqual(healthcheckCommand(), [...entry, 'healthcheck']);
});

test('deploy/Dockerfile: the HEALTHCHECK passes against the CMD process and fails once it is gone', async () => {
  const cmd = imageCommand();
  const dataDir = mkdtempSync(join(tmpdir(), 'stalkd-hc-'));
  const port = await freePort();
  const metricsPort = await freePort();
  const local = replaceOptionValues(cmd.args, {
    '-l': '127.0.0.1',
    '-p': String(port),
    '--metrics-port': String(metricsPort),
    '--metrics-host': '127.0.0.1',
    '-b': dataDir,
  });
  // In the container the check finds PID 1; here the process is named by --pid.
  const runCheck = (pid: number) => {
    const argv = [CLI_PATH, ...healthcheckCommand().slice(2), '--pid', String(pid)];
    return spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 10_000 });
  };
  const cli = await startCli(local, metricsPort);
  const pid = cli.child.pid as number;
  try {
    const healthy = runCheck(pid);
    assert.equal(healthy.status, 0, healthy.stdout + healthy.stderr);
    assert.match(healthy.stdout, new RegExp(`^healthy: pid ${pid} node, /readyz 200`));
  } finally {
    const stop = await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
    assert.equal(stop.code, 0, stop.stderr);
  }
  const gone = runCheck(pid);
  assert.equal(gone.status, 1, 'unhealthy once it is gone');
  assert.match(gone.stdout, /^unhealthy: no stalkd/);
});

test('deploy/Dockerfile: every COPY source of the default build exists and .dockerignore sends it', () => {
  const ignore = readFileSync(repoPath('.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '*', '.dockerignore starts by excluding everything');
  for (const s of [stage('build'), runtime]) {
    for (const copy of s.instructions.filter((i) => i.keyword === 'COPY' && !i.flags.from)) {
      for (const source of copy.args.split(/\s+/).slice(0, -1)) {
        assert.ok(existsSync(repoPath(source)), `COPY source ${source} exists`);
        const rule = statSync(repoPath(source)).isDirectory() ? `!${source}/` : `!${source}`;
        assert.ok(ignore.includes(rule), `.dockerignore lets ${source} through (${rule})`);
      }
    }
  }
});
