/**
 * Where a beanstalkd-protocol server listens or is reached: a TCP host and port, or — spelled as
 * beanstalkd's `-l unix:PATH` — a Unix domain socket path in place of the host (the port is then
 * not used). One spelling everywhere: `-l` of node and proxy, a topology node's `host`, `--nodes`,
 * and the client commands' `--host`.
 */

export const UNIX_PREFIX = 'unix:';

/**
 * sockaddr_un's sun_path is 108 bytes on Linux; beanstalkd keeps the last for the NUL, so a path
 * of at most 107 bytes (UTF-8) is accepted.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

/** The socket path of a `unix:PATH` host, else undefined. */
export function socketPathOf(host: string): string | undefined {
  return host.startsWith(UNIX_PREFIX) ? host.slice(UNIX_PREFIX.length) : undefined;
}

/** Why `path` cannot name a listening socket, or undefined when it can. */
export function socketPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'the socket path after unix: is empty';
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES)
    return `socket path ${path} is too long (${bytes} bytes; at most ${MAX_SOCKET_PATH_BYTES})`;
  if (path.includes('\0')) return 'the socket path contains a NUL byte';
  return undefined;
}

/** net.connect / net.Server.listen options for a host and port: `{ path }` for `unix:PATH`. */
export function socketTarget(host: string, port: number): { path: string } | { host: string; port: number } {
  const path = socketPathOf(host);
  return path !== undefined ? { path } : { host, port };
}

/** How an address is written in logs and errors: `unix:PATH`, `HOST:PORT` or `[V6]:PORT`. */
export function endpointText(host: string, port: number): string {
  if (socketPathOf(host) !== undefined) return host;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address to reach, from this machine, a listener bound to `host` (a wildcard → loopback). */
export function localAddressFor(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}
