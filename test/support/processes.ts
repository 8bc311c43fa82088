/**
 * stalkd nodes and proxies as child processes of the test (the built CLI), so their memory can be
 * read from /proc and they can be killed and restarted; plus small socket helpers for bounds tests.
 * The port comes from the `bind HOST:PORT` line that `-V` prints once the listener is open.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { CLI_PATH } from './cli-process';

export interface StalkdProcess {
  child: ChildProcess;
  pid: number;
  /** The TCP port; 0 on a Unix socket. */
  port: number;
  /** What the bind line names: `HOST:PORT` or `unix:PATH`. */
  address: string;
  stderr(): string;
  /** Resolves once stderr matches `pattern` (lines after the bind line arrive a little later). */
  untilStderr(pattern: RegExp): Promise<void>;
  /** Resident memory now, bytes. */
  rss(): number;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

export interface SpawnHow {
  /** Spawn options (env, uid, extra stdio such as an inherited listening socket at fd 3). */
  options?: SpawnOptions;
  /** Runs `command ...prefix node main.js args` instead (e.g. `sh -c '… exec "$@"' sh`). */
  command?: string;
  prefix?: readonly string[];
}

/** Runs `stalkd <args> -V` and resolves once it printed its bind line. */
export async function startStalkd(
  args: readonly string[],
  timeoutMs = 15_000,
  how: SpawnHow = {},
): Promise<StalkdProcess> {
  const argv = [...(how.prefix ?? []), process.execPath, CLI_PATH, ...args, '-V'];
  const command = how.command ?? (argv.shift() as string);
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], ...how.options });
  let stderr = '';
  const exited = once(child, 'exit');
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`stalkd ${args.join(' ')}: no bind line: ${stderr}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /^bind (\S+)\n/m.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stalkd ${args.join(' ')} exited (${code}): ${stderr}`));
    });
  });
  const pid = child.pid as number;
  const port = Number(/:(\d+)$/.exec(address)?.[1] ?? 0);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid,
    port,
    address,
    stderr: () => stderr,
    untilStderr: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(stderr)) return;
          child.stderr?.off('data', check);
          resolve();
        };
        child.stderr?.on('data', check);
        child.once('exit', () => reject(new Error(`exited before ${pattern}: ${stderr}`)));
        check();
      }),
    rss: () => rssBytes(pid),
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

export function startNodeProcess(args: readonly string[] = []): Promise<StalkdProcess> {
  return startStalkd(['node', '-l', '127.0.0.1', '-p', '0', ...args]);
}

export function startProxyProcess(
  nodePorts: readonly number[],
  args: readonly string[] = [],
): Promise<StalkdProcess> {
  const nodes = nodePorts.map((port, i) => `node-${i}=127.0.0.1:${port}`).join(',');
  return startStalkd(['proxy', '-l', '127.0.0.1', '-p', '0', '--nodes', nodes, ...args]);
}

export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Resolves when the server closes `socket` (or it errors). */
export function closedBy(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/**
 * Half-closes `socket` and resolves once the server has closed its side, so the server has let go
 * of the connection (a Node server counts it against maxConnections until its socket is destroyed,
 * which happens in the same turn as its FIN). `destroy()` followed by closedBy() tells nothing of
 * the kind: the client's own close comes first, and a busy server may accept a new connection
 * before it reads the old one's FIN — and refuse it as one too many.
 */
export function letGo(socket: net.Socket): Promise<void> {
  const gone = closedBy(socket);
  socket.end();
  return gone;
}

/** Sends `request` and resolves with everything received once it contains `marker`. */
export async function exchange(
  port: number,
  request: string,
  marker: string,
  timeoutMs = 10_000,
): Promise<string> {
  const socket = await connectRaw(port);
  try {
    let text = '';
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${JSON.stringify(marker)} in ${timeoutMs} ms: ${JSON.stringify(text)}`)),
        timeoutMs,
      );
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes(marker)) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`closed before ${JSON.stringify(marker)}: ${JSON.stringify(text)}`));
      });
      socket.write(request);
    });
  } finally {
    socket.destroy();
  }
}

/** A fresh client can still put, reserve and delete on its own tube. */
export async function probe(port: number, tube: string): Promise<void> {
  const text = await exchange(
    port,
    `use ${tube}\r\nput 0 0 60 2\r\nok\r\nwatch ${tube}\r\nignore default\r\nreserve-with-timeout 0\r\n`,
    'ok\r\n',
  );
  const m = /RESERVED (\d+) 2\r\nok\r\n/.exec(text);
  if (!m) throw new Error(`probe ${tube}: ${JSON.stringify(text)}`);
  // The reservation ends with the connection; delete it on a fresh one so the tube stays empty.
  await exchange(port, `delete ${m[1]}\r\n`, '\r\n');
}

/** `current-connections` from stats, over a fresh connection (which counts itself). */
export async function currentConnections(port: number): Promise<number> {
  const text = await exchange(port, 'stats\r\n', 'uptime');
  const m = /current-connections: (\d+)/.exec(text);
  return Number(m?.[1] ?? -1);
}

/** Polls `check` every `everyMs` at most `attempts` times; fails with `what` otherwise. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  attempts = 100,
  everyMs = 50,
): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`not reached in ${attempts * everyMs} ms: ${what}`);
}
