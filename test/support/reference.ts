/**
 * Debian's beanstalkd as a reference server for tests: started on an ephemeral loopback port, its
 * port read from its own `-V` output ("bind 3 127.0.0.1:PORT"), so no sleeping and no port races.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const BEANSTALKD_PATH = [
  '/usr/bin/beanstalkd',
  '/usr/sbin/beanstalkd',
  '/usr/local/bin/beanstalkd',
].find((p) => existsSync(p));

/** Version string as `beanstalkd -v` prints it (e.g. "1.12"), or undefined when not installed. */
export function referenceVersion(): string | undefined {
  if (!BEANSTALKD_PATH) return undefined;
  const out = spawnSync(BEANSTALKD_PATH, ['-v'], { encoding: 'utf8' });
  return /beanstalkd (\S+)/.exec(out.stdout)?.[1];
}

export interface ReferenceServer {
  host: string;
  port: number;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts beanstalkd on 127.0.0.1 with an OS-chosen port, or on the Unix socket `socketPath`
 * (`-l unix:PATH`; host is then `unix:PATH`, port 0). Extra args (e.g. ['-z', '10']) are passed on.
 */
export function startReference(args: string[] = [], socketPath?: string): Promise<ReferenceServer> {
  const bin = BEANSTALKD_PATH;
  if (!bin) return Promise.reject(new Error('beanstalkd is not installed (apt-get install -y beanstalkd)'));
  const listen = socketPath === undefined ? ['-l', '127.0.0.1', '-p', '0'] : ['-l', `unix:${socketPath}`];
  // "bind 3 127.0.0.1:PORT" or, on a Unix socket, "bind 3 PATH".
  const bound = socketPath === undefined ? /bind \d+ 127\.0\.0\.1:(\d+)/ : /bind \d+ (\/\S+)\n/;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-V', ...listen, ...args], {
      // -V logs (including "bind FD ADDR:PORT") go to stdout; errors to stderr. Both are read
      // and, once the port is known, drained so a full pipe never blocks the server.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString('latin1');
      const m = bound.exec(stderr);
      if (!m) return;
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.stdout?.resume();
      child.stderr?.resume();
      const port = socketPath === undefined ? Number(m[1]) : 0;
      const listening =
        socketPath === undefined ? waitUntilListening(port) : waitUntilSocketListens(socketPath);
      listening.then(
        () =>
          resolve({
            host: socketPath === undefined ? '127.0.0.1' : `unix:${socketPath}`,
            port,
            pid: child.pid ?? 0,
            process: child,
            stop: () =>
              new Promise<void>((done) => {
                if (child.exitCode !== null || child.signalCode !== null) return done();
                child.once('exit', () => done());
                child.kill('SIGKILL');
              }),
          }),
        reject,
      );
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`beanstalkd exited early (${code ?? signal}): ${stderr}`)),
    );
  });
}

/**
 * beanstalkd prints "bind" between bind() and listen(), so a connect right after it can be
 * refused. Poll the kernel's socket table (no connection, so no server counter moves) until the
 * port is in LISTEN state; each retry yields one event-loop turn. Off Linux, trust the log line.
 */
async function waitUntilListening(port: number, attempts = 100_000): Promise<void> {
  if (!existsSync('/proc/net/tcp')) return;
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (let i = 0; i < attempts; i++) {
    const rows = readFileSync('/proc/net/tcp', 'latin1').split('\n');
    if (rows.some((row) => row.trim().split(/\s+/)[1] === local && row.trim().split(/\s+/)[3] === '0A'))
      return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`beanstalkd never listened on port ${port}`);
}

/** As waitUntilListening, for a Unix socket: /proc/net/unix lists it with the listening flag. */
async function waitUntilSocketListens(path: string, attempts = 100_000): Promise<void> {
  if (!existsSync('/proc/net/unix')) return;
  for (let i = 0; i < attempts; i++) {
    // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening).
    const rows = readFileSync('/proc/net/unix', 'latin1').split('\n');
    if (rows.some((row) => row.endsWith(` ${path}`) && row.trim().split(/\s+/)[3] === '00010000')) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`beanstalkd never listened on ${path}`);
}
