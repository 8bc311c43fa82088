/**
 * Opening a listener, one way for the node and the proxy: on TCP (`host`, `port`), on a Unix
 * domain socket (`host` = `unix:PATH`, as beanstalkd's `-l`), or on a socket inherited from the
 * service manager (`fd`, systemd socket activation: see inherited-socket.ts).
 *
 * Unix sockets behave as beanstalkd 1.12's: a socket file left at PATH by a server that is gone
 * is removed and replaced (a warning says so), any other kind of file there is an error. Unlike
 * beanstalkd, a socket some live server still accepts on is not taken over: that is an error too
 * (beanstalkd would unlink it and leave that server unreachable). The file is created with mode
 * 0777 & ~umask, as bind(2) makes it for beanstalkd; a client needs write permission on it to
 * connect. Node removes the file when the listener closes (a clean stop); beanstalkd leaves it.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { socketPathOf, socketPathProblem } from './endpoint';

/**
 * Where to listen: `host` (`unix:PATH` for a Unix socket) and `port`; or, with `fd`, an inherited
 * listening socket whose address `host`/`port` name (as the kernel reports it: inherited-socket.ts).
 */
export interface ListenTarget {
  host: string;
  port: number;
  fd?: number;
}

/** Error class for the start-up edge: the listener cannot be opened as asked. */
export class ListenError extends Error {
  readonly code = 'E_LISTEN';
}

/** True when some process accepts connections on the Unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Clears the way for a Unix socket at `path`; `warn` hears about a stale socket removed. */
async function prepareSocketPath(path: string, warn: (line: string) => void): Promise<void> {
  const problem = socketPathProblem(path);
  if (problem) throw new ListenError(problem);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ListenError(`cannot inspect ${path}: ${(err as Error).message}`);
  }
  if (!isSocket) throw new ListenError(`another file already exists at ${path} (not a socket)`);
  if (await socketAnswers(path)) throw new ListenError(`a server is already listening on unix:${path}`);
  warn(`removing stale socket ${path} to replace it`);
  unlinkSync(path);
}

/**
 * Starts `server` listening on `target`; resolves once it accepts connections. Listen errors
 * (address in use, permission) reject with the system's message.
 */
export async function listenOn(
  server: net.Server,
  target: ListenTarget,
  warn: (line: string) => void = () => {},
): Promise<void> {
  let options: net.ListenOptions | { fd: number };
  if (target.fd !== undefined) {
    options = { fd: target.fd };
  } else {
    const path = socketPathOf(target.host);
    if (path !== undefined) await prepareSocketPath(path, warn);
    options = path !== undefined ? { path } : { host: target.host, port: target.port };
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * The listener's address in the `-l`/`-p` spelling: `unix:PATH` and port 0 for a Unix socket.
 * For an inherited socket, the target's (Node knows no path for a Unix socket it did not bind).
 */
export function listenerAddress(server: net.Server, target?: ListenTarget): { host: string; port: number } {
  if (target?.fd !== undefined) return { host: target.host, port: target.port };
  const address = server.address();
  if (typeof address === 'string') return { host: `unix:${address}`, port: 0 };
  return address ? { host: address.address, port: address.port } : { host: '', port: 0 };
}

/**
 * A TCP/Unix listener that can be bound before the server using it is ready — beanstalkd's order
 * with `-u`: bind, become the user, then open the binlog and replay it. Connections accepted in
 * the meantime wait in the kernel's terms (paused, unread; bounded by `maxConnections`) and are
 * handed over, oldest first, when `serve` is called.
 */
export class Listener {
  readonly server: net.Server;
  /** Accepted before `serve`; undefined once serving. */
  private held: Set<net.Socket> | undefined = new Set();
  private accept: ((socket: net.Socket) => void) | undefined;

  constructor(options: net.ServerOpts) {
    this.server = net.createServer({ ...options, pauseOnConnect: true }, (socket) => this.onSocket(socket));
  }

  private target: ListenTarget | undefined;

  listen(target: ListenTarget, warn?: (line: string) => void): Promise<void> {
    this.target = target;
    return listenOn(this.server, target, warn);
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get address(): { host: string; port: number } {
    return listenerAddress(this.server, this.target);
  }

  /** From now on every connection (first the held ones) goes to `accept`, reading. */
  serve(accept: (socket: net.Socket) => void): void {
    this.accept = accept;
    const held = this.held ?? new Set();
    this.held = undefined;
    for (const socket of held) this.onSocket(socket);
  }

  private onSocket(socket: net.Socket): void {
    const held = this.held;
    if (held) {
      held.add(socket);
      socket.once('close', () => held.delete(socket));
      return;
    }
    this.accept?.(socket);
    socket.resume();
  }
}
