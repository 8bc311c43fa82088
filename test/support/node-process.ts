/**
 * `stalkd node` as a child process for restart and crash tests: started on 127.0.0.1 with port 0
 * and -V, its port read from its own `bind HOST:PORT` line (printed once it listens), so there is
 * no sleeping and no port race. Killed with SIGKILL (crash) or SIGTERM (clean stop).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Client } from '../../src/client';
import { connect } from '../../src/client';
import { CLI_PATH } from './cli-process';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface NodeProcess {
  port: number;
  pid: number;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** A new client connection to the node. */
  client(): Promise<Client>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<Exit>;
  /** SIGTERM (a clean stop), then waits for the exit. */
  stop(): Promise<Exit>;
}

/** `stalkd ...args` as a child process, its stderr collected, `exited` once it has closed. */
export function spawnCli(args: readonly string[]): {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<Exit>;
} {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      // 'exit' may come before the last stderr chunk: wait for the pipe to close too.
      if (child.stderr?.readableEnded !== false) resolve({ code, signal, stderr: text });
      else child.stderr.once('close', () => resolve({ code, signal, stderr: text }));
    }),
  );
  return { child, stderr: () => text, exited };
}

/**
 * Starts `stalkd node -l 127.0.0.1 -p 0 -V -b dir ...extra` and resolves once it listens. Rejects
 * with its stderr when it exits first or prints no `bind` line within `timeoutMs`.
 */
export function startNode(
  dir: string,
  extra: readonly string[] = [],
  timeoutMs = 15_000,
): Promise<NodeProcess> {
  const { child, stderr, exited } = spawnCli([
    'node',
    '-l',
    '127.0.0.1',
    '-p',
    '0',
    '-V',
    '-b',
    dir,
    ...extra,
  ]);
  const signal = (name: NodeJS.Signals): Promise<Exit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stalkd node printed no bind line in ${timeoutMs} ms: ${stderr()}`));
    }, timeoutMs);
    const onData = (): void => {
      const bind = /^bind \S+:(\d+)$/m.exec(stderr());
      if (!bind) return;
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      const port = Number(bind[1]);
      resolve({
        port,
        pid: child.pid ?? 0,
        child,
        stderr,
        exited,
        client: () => connect({ host: '127.0.0.1', port }),
        kill: () => signal('SIGKILL'),
        stop: () => signal('SIGTERM'),
      });
    };
    child.stderr?.on('data', onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`stalkd node exited (${exit.code ?? exit.signal}) before listening: ${exit.stderr}`));
    });
  });
}

/** Runs `stalkd ...args` expecting it to exit by itself; resolves with how it exited. */
export function runCliToExit(args: readonly string[], timeoutMs = 15_000): Promise<Exit> {
  const { child, exited } = spawnCli(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return exited.finally(() => clearTimeout(timer));
}
