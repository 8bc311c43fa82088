/**
 * Asking a peer member one question over its client port (`x-role`, `x-fence`): connect,
 * `x-auth` when a token is set, one request, one answer — a line, or the YAML of `OK <bytes>`.
 * Never throws: an unreachable or silent peer is `undefined`.
 */
import net from 'node:net';

/** Answers are small: x-role's YAML is a few hundred bytes. */
const MAX_ANSWER_BYTES = 16 * 1024;

export interface PeerAddress {
  host: string;
  port: number;
}

/** `HOST:PORT` (IPv6 in brackets) → address; throws on anything else. */
export function parseAddress(text: string): PeerAddress {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`not HOST:PORT: ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

export function formatAddress(a: PeerAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The answer's first line, and for `OK <n>` its body. */
export interface PeerAnswer {
  line: string;
  body: string;
}

export function askPeer(
  peer: PeerAddress,
  request: string,
  token: string | undefined,
  timeoutMs: number,
): Promise<PeerAnswer | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: peer.host, port: peer.port, noDelay: true });
    let buf = Buffer.alloc(0);
    let authPending = token !== undefined;
    const done = (answer: PeerAnswer | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('connect', () => {
      if (token !== undefined) socket.write(`x-auth ${token}\r\n`);
      socket.write(`${request}\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > MAX_ANSWER_BYTES) return done(undefined);
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.toString('latin1', 0, eol);
        if (authPending) {
          authPending = false;
          buf = buf.subarray(eol + 2);
          if (line !== 'OK') return done({ line, body: '' });
          continue;
        }
        const ok = /^OK (\d+)$/.exec(line);
        if (!ok) return done({ line, body: '' });
        const bytes = Number(ok[1]);
        if (buf.length < eol + 2 + bytes + 2) return;
        return done({ line, body: buf.toString('utf8', eol + 2, eol + 2 + bytes) });
      }
    });
  });
}

/** `key: value` lines of x-role's YAML (quotes removed). */
export function parseYamlMap(body: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of body.split('\n')) {
    const m = /^([a-z-]+): (.*)$/.exec(line);
    if (m) map.set(m[1] as string, (m[2] as string).replace(/^"(.*)"$/, '$1'));
  }
  return map;
}

/** What start-up and promotion need of a peer's `x-role`. */
export interface PeerRole {
  address: string;
  role: string;
  term: number;
  lastTerm: number;
  lastLsn: number;
  member: string;
  /** It would lead were no primary found (x-role's `may-lead`; absent = false). */
  mayLead: boolean;
}

export async function askRole(
  peer: PeerAddress,
  token: string | undefined,
  timeoutMs: number,
): Promise<PeerRole | undefined> {
  const answer = await askPeer(peer, 'x-role', token, timeoutMs);
  if (answer === undefined || !answer.line.startsWith('OK ')) return undefined;
  const m = parseYamlMap(answer.body);
  const n = (key: string): number => Number(m.get(key) ?? Number.NaN);
  const role: PeerRole = {
    address: formatAddress(peer),
    role: m.get('role') ?? '',
    term: n('term'),
    lastTerm: n('last-term'),
    lastLsn: n('last-lsn'),
    member: m.get('member') ?? '',
    mayLead: m.get('may-lead') === 'true',
  };
  return Number.isSafeInteger(role.term) && Number.isSafeInteger(role.lastLsn) ? role : undefined;
}
