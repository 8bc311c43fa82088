/**
 * The `x-replicate` handshake (docs/replication.md, "The handshake"): the standby's line, and the
 * standby's side of the exchange — connect to the primary's client port, authenticate if a token is
 * set, send the line, read the one-line answer. After STREAMING or FULL_COPY the socket carries
 * frames; whatever arrived after the answer line is handed on with it.
 */
import net from 'node:net';
import type { ReplicateRequest } from './source';

/** Token characters: what fits in a command line without quoting. */
const TOKEN = /^[\x21-\x7e]{1,128}$/;

export function isValidToken(token: string): boolean {
  return TOKEN.test(token);
}

export function replicateLine(req: ReplicateRequest): string {
  return (
    `x-replicate ${req.shard || '-'} ${req.member} ${req.knownTerm} ${req.lastTerm} ${req.lastLsn} ` +
    `${req.index} ${req.offset} ${req.advertise || '-'}\r\n`
  );
}

export type HandshakeResult =
  | {
      kind: 'streaming' | 'full-copy';
      socket: net.Socket;
      leftover: Buffer;
      term: number;
      standbyTimeoutMs: number;
      shard: string;
    }
  | { kind: 'truncate'; term: number; lsn: number }
  /** Any other answer (NOT_PRIMARY, WRONG_SHARD …) or a failure: the line or the error. */
  | { kind: 'refused'; reason: string };

const MAX_LINE_BYTES = 224;

/**
 * Runs the handshake against host:port. Never throws: connection failures, timeouts and refusals
 * come back as `refused`.
 */
export function handshake(
  host: string,
  port: number,
  req: ReplicateRequest,
  token: string | undefined,
  timeoutMs: number,
): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, noDelay: true });
    let text = Buffer.alloc(0);
    let settled = false;
    const done = (result: HandshakeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (result.kind !== 'streaming' && result.kind !== 'full-copy') socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done({ kind: 'refused', reason: `no answer in ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.on('error', (err) => done({ kind: 'refused', reason: err.message }));
    socket.on('close', () => done({ kind: 'refused', reason: 'connection closed' }));
    socket.on('connect', () => {
      socket.setKeepAlive(true, 1000);
      if (token !== undefined) socket.write(`x-auth ${token}\r\n`);
      socket.write(replicateLine(req));
    });
    let authPending = token !== undefined;
    socket.on('data', (chunk: Buffer) => {
      text = Buffer.concat([text, chunk]);
      for (;;) {
        const eol = text.indexOf('\r\n');
        if (eol < 0) {
          if (text.length > MAX_LINE_BYTES) done({ kind: 'refused', reason: 'answer line too long' });
          return;
        }
        const line = text.toString('latin1', 0, eol);
        text = text.subarray(eol + 2);
        if (authPending) {
          authPending = false;
          if (line !== 'OK') return done({ kind: 'refused', reason: `x-auth: ${line}` });
          continue;
        }
        return done(parseAnswer(line, socket, text));
      }
    });
  });
}

function parseAnswer(line: string, socket: net.Socket, leftover: Buffer): HandshakeResult {
  const [word, a, b, c] = line.split(' ');
  const n = (s: string | undefined): number => (s !== undefined && /^\d{1,16}$/.test(s) ? Number(s) : -1);
  if ((word === 'STREAMING' || word === 'FULL_COPY') && n(a) >= 0 && n(b) >= 0 && c !== undefined) {
    socket.pause();
    return {
      kind: word === 'STREAMING' ? 'streaming' : 'full-copy',
      socket,
      leftover: Buffer.from(leftover),
      term: n(a),
      standbyTimeoutMs: n(b),
      shard: c,
    };
  }
  if (word === 'TRUNCATE' && n(a) >= 0 && n(b) >= 0) return { kind: 'truncate', term: n(a), lsn: n(b) };
  return { kind: 'refused', reason: line };
}
