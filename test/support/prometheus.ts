/**
 * A real Prometheus for tests (Debian package `prometheus`): started on an ephemeral port with a
 * temp config and storage dir, queried through its HTTP API. Waiting is polling with a bounded
 * number of retries, never a fixed sleep.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

export function hasBinary(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Polls `probe` every `intervalMs` until it returns a value, at most `timeoutMs`; throws with `what`. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `${what}: not within ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  port: number;
  /** Instant query at now; vectors as series, scalars as one unlabelled series. */
  query(expr: string): Promise<PromSeries[]>;
  /** `label_values(match, label)` as Grafana resolves it. */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Active targets: job, scrape URL, health ("up" | "down" | "unknown"), last error. */
  targets(): Promise<{ job: string; scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
  log(): string;
}

function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { status?: string; error?: string };
          if (parsed.status !== 'success') reject(new Error(`${path}: ${parsed.error ?? body}`));
          else resolve(parsed);
        } catch {
          reject(new Error(`${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: timed out`)));
    req.on('error', reject);
  });
}

/** Starts Prometheus with `config` (YAML text) in `dir`; resolves once its API answers. */
export async function startPrometheus(config: string, dir: string): Promise<Prometheus> {
  const configPath = join(dir, 'prometheus.yml');
  writeFileSync(configPath, config);
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--web.listen-address=127.0.0.1:0',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.setEncoding('utf8');
  const listening = new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (chunk: string) => {
      log += chunk;
      // Prometheus logs the bound address, port included, once its listener is open.
      const m = /msg="Listening on" address=[^\s]*:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`prometheus exited (${code}):\n${log}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const port = await Promise.race([
    listening,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`prometheus: no port\n${log}`)), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const api = (path: string) => getJson(port, path);
  const prom: Prometheus = {
    port,
    log: () => log,
    async query(expr) {
      const r = (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)) as {
        data: { resultType: string; result: unknown };
      };
      if (r.data.resultType === 'scalar') return [{ metric: {}, value: r.data.result as [number, string] }];
      return r.data.result as PromSeries[];
    },
    async labelValues(label, match) {
      const r = (await api(
        `/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`,
      )) as { data: string[] };
      return r.data;
    },
    async targets() {
      const r = (await api('/api/v1/targets?state=active')) as {
        data: {
          activeTargets: {
            labels: Record<string, string>;
            scrapeUrl: string;
            health: string;
            lastError: string;
          }[];
        };
      };
      return r.data.activeTargets.map((t) => ({
        job: t.labels.job ?? '',
        scrapeUrl: t.scrapeUrl,
        health: t.health,
        lastError: t.lastError,
      }));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await pollUntil('prometheus ready', async () => ((await prom.targets()) ? true : undefined), 10_000);
  return prom;
}
