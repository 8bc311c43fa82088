/**
 * Runs the built CLI (dist/src/cli/main.js) as a child process with a container's command line,
 * its ports and paths swapped for local ones, so tests can ask the real process for the paths
 * that probes and scrapers use, and check how it stops on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

/** dist/test/support → dist/src/cli/main.js */
export const CLI_PATH = join(__dirname, '..', '..', 'src', 'cli', 'main.js');

/**
 * A port that was free a moment ago on 127.0.0.1, outside the ephemeral range (see freePortRun: a
 * port the OS picked for port 0 could be handed to another test's connection before its use).
 */
export function freePort(): Promise<number> {
  return freePortRun(0);
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export function httpGet(port: number, path: string, timeoutMs = 2000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    // A connection of its own (agent: false): Node's default agent keeps connections alive and
    // reuses one the server may be closing at its keep-alive timeout that very moment ("socket hang
    // up", seen when a test scraped again ~5 s after its last scrape).
    const req = http.get({ host: '127.0.0.1', port, path, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  stderr(): string;
  /** Sends SIGTERM (as `docker stop` and the kubelet do) and waits for the exit. */
  stop(timeoutMs?: number): Promise<StopResult>;
}

/**
 * Starts `node dist/src/cli/main.js ...args` and resolves once `metricsPort` answers HTTP (any
 * status). Rejects with the process's stderr if it exits first or does not answer in time.
 */
export async function startCli(
  args: readonly string[],
  metricsPort: number,
  timeoutMs = 10_000,
): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const running: RunningCli = {
    child,
    stderr: () => stderr,
    async stop(stopTimeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      clearTimeout(timer);
      return { code, signal, stderr };
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`stalkd ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
    }
    try {
      await httpGet(metricsPort, '/livez', 500);
      return running;
    } catch {
      if (Date.now() > deadline) {
        await running.stop();
        throw new Error(`stalkd ${args.join(' ')}: metrics port ${metricsPort} silent: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * A base port with base..base+count all free right now (bind-probed), below Linux's ephemeral range
 * (32768–60999): port-0 listeners and outgoing connections of tests running alongside are given
 * ports from that range, and took one of a run between the probe and its use (EADDRINUSE).
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (32000 - count - 20000));
    const servers: Server[] = [];
    try {
      for (let i = 0; i <= count; i++) {
        const s = createServer();
        s.listen(base + i, '127.0.0.1');
        await once(s, 'listening');
        servers.push(s);
      }
      return base;
    } catch {
      // taken: try another base
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
  throw new Error('no free port run found');
}

/**
 * Runs `stalkd ARGS` to its end without blocking this process (its servers must answer the child:
 * spawnSync would deadlock them). Resolves with the exit status and what it printed.
 */
export async function runCli(
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const [status] = (await once(child, 'exit')) as [number | null];
  return { status, stdout, stderr };
}
