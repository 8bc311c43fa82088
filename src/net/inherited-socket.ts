/**
 * systemd socket activation, as Debian's beanstalkd takes it (sd_listen_fds): when LISTEN_PID is
 * this process and LISTEN_FDS ≥ 1, the listening socket systemd opened is fd 3 and `-l`/`-p` are
 * not used. More than one fd: the first is used and a warning says so (beanstalkd's rule). The
 * variables are removed from the environment once read (sd_listen_fds(1) unsets them), so a child
 * process never mistakes them for its own. LISTEN_FDNAMES (the socket unit's FileDescriptorName=)
 * only names the socket in the start line.
 *
 * The fd must be a listening TCP or Unix stream socket (sd_is_socket_inet / sd_is_socket_unix):
 * on Linux its inode is looked up in /proc/net/{tcp,tcp6,unix}, which also gives its address for
 * the start line and for `stalkd healthcheck` (which reads another process's fd 3 the same way).
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** SD_LISTEN_FDS_START: the first inherited fd. */
export const LISTEN_FDS_START = 3;

export interface InheritedSocket {
  fd: number;
  /** LISTEN_FDNAMES' first name, '' when none. */
  name: string;
  /** `HOST:PORT` or `unix:PATH`, from the kernel's tables. */
  address: { host: string; port: number };
}

export class InheritedSocketError extends Error {
  readonly code = 'E_LISTEN_FDS';
}

/** Hex of /proc/net/tcp's local address (little-endian words) as an IP string. */
function ipFromHex(hex: string): string {
  if (hex.length === 8)
    return [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  const bytes: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let i = 3; i >= 0; i--) bytes.push(word.slice(i * 2, i * 2 + 2));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(Number.parseInt(bytes[i] + (bytes[i + 1] ?? ''), 16).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/**
 * The address on which the socket with this inode listens, or undefined when it is not a
 * listening TCP or Unix stream socket. `procNet` is /proc/net (tests may point elsewhere).
 */
export function listeningAddressOfInode(
  inode: string,
  procNet = '/proc/net',
): InheritedSocket['address'] | undefined {
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readTable(`${procNet}/${table}`)) {
      const f = row.trim().split(/\s+/);
      // sl local rem st … inode(9); st 0A = LISTEN
      if (f[9] !== inode) continue;
      if (f[3] !== '0A') return undefined;
      const [ip, port] = (f[1] ?? '').split(':');
      return { host: ipFromHex(ip ?? ''), port: Number.parseInt(port ?? '0', 16) };
    }
  }
  for (const row of readTable(`${procNet}/unix`)) {
    const f = row.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening, Type 0001 = stream
    if (f[6] !== inode) continue;
    if (f[3] !== '00010000' || f[4] !== '0001') return undefined;
    return { host: `unix:${f.slice(7).join(' ')}`, port: 0 };
  }
  return undefined;
}

function readTable(path: string): string[] {
  try {
    return readFileSync(path, 'latin1').split('\n').slice(1);
  } catch {
    return [];
  }
}

/** The listening address of process `pid`'s fd, or undefined (not a listening stream socket). */
export function listeningAddressOfFd(
  pid: number | 'self',
  fd: number,
): InheritedSocket['address'] | undefined {
  let link: string;
  try {
    link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
  return inode === undefined ? undefined : listeningAddressOfInode(inode, `/proc/${pid}/net`);
}

/** True when `env` hands this process (`pid`) sockets to listen on. */
export function activatedBy(env: Readonly<Record<string, string | undefined>>, pid: number): boolean {
  return env.LISTEN_PID === String(pid) && /^[1-9]\d*$/.test(env.LISTEN_FDS ?? '');
}

/**
 * The socket systemd passed, or undefined when none was passed to this process. Throws
 * InheritedSocketError when fd 3 is not a listening stream socket.
 */
export function takeInheritedSocket(
  warn: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): InheritedSocket | undefined {
  const activated = activatedBy(env, process.pid);
  const count = Number(env.LISTEN_FDS ?? 0);
  const name = (env.LISTEN_FDNAMES ?? '').split(':')[0] ?? '';
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!activated) return undefined;
  if (count > 1) warn(`inherited ${count} listening sockets; using only the first (fd ${LISTEN_FDS_START})`);
  const address = listeningAddressOfFd('self', LISTEN_FDS_START);
  if (!address)
    throw new InheritedSocketError(`inherited fd ${LISTEN_FDS_START} is not a TCP or UNIX listening socket`);
  return { fd: LISTEN_FDS_START, name, address };
}
