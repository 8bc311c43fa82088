/**
 * Plays a parsed transcript case (format: transcript.ts) against a running target. Every wait is
 * event-driven (socket data/end) with a per-expectation timeout; nothing sleeps.
 */
import { connect, type Socket } from 'node:net';
import { socketTarget } from '../../src/net/endpoint';
import type { Part, Step, TranscriptCase, YamlLine } from './transcript';
import type { Target } from './transcript-targets';

export interface PlayOptions {
  /** How long one expectation may wait for its bytes. */
  expectTimeoutMs?: number;
}

type Bindings = Map<string, string>;

/** One client connection with everything received and not yet matched in `pending`. */
class Conn {
  readonly socket: Socket;
  pending: Buffer = Buffer.alloc(0);
  ended = false;
  error: string | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly name: string,
    host: string,
    port: number,
  ) {
    this.socket = connect({ ...socketTarget(host, port), allowHalfOpen: true });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.wake?.();
    });
    this.socket.on('end', () => this.markEnded());
    this.socket.on('close', () => this.markEnded());
    this.socket.on('error', (err) => {
      this.error = err.message;
      this.markEnded();
    });
  }

  private markEnded(): void {
    this.ended = true;
    this.wake?.();
  }

  /** Resolves true when something happened (data, end, error), false when `ms` passed first. */
  waitForEvent(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  consume(n: number): void {
    this.pending = this.pending.subarray(n);
  }
}

/** Outcome of looking at the pending bytes: matched (consumed n), need more, or mismatch. */
type Check = { done: number } | { wait: true } | { fail: string };

export async function playCase(target: Target, c: TranscriptCase, opts: PlayOptions = {}): Promise<void> {
  const timeoutMs = opts.expectTimeoutMs ?? 5000;
  const conns = new Map<string, Conn>();
  const bindings: Bindings = new Map();
  let currentName = 'main';
  const use = (): Conn => {
    let conn = conns.get(currentName);
    if (!conn) {
      conn = new Conn(currentName, target.host, target.port);
      conns.set(currentName, conn);
    }
    return conn;
  };
  const where = (step: Step): string => `${c.file}:${step.line} [${currentName}] ${step.text}`;

  try {
    for (const step of c.steps) {
      if (step.only && step.only !== target.version) continue;
      switch (step.kind) {
        case 'conn':
          currentName = step.name;
          break;
        case 'send':
          use().socket.write(substitute(step.parts, bindings, () => where(step)));
          break;
        case 'expect':
          await expectOn(use(), timeoutMs, where(step), (buf) => checkExpect(step.parts, bindings, buf));
          break;
        case 'yaml':
          await expectOn(use(), timeoutMs, where(step), (buf) =>
            checkYaml(step.lines, target, bindings, buf),
          );
          break;
        case 'eof':
          await expectOn(use(), timeoutMs, where(step), (buf, ended) =>
            buf.length > 0
              ? { fail: 'expected the server to close the connection' }
              : ended
                ? { done: 0 }
                : { wait: true },
          );
          break;
        case 'close': {
          const conn = use();
          if (conn.pending.length > 0)
            throw new Error(`${where(step)}: unexpected bytes ${show(conn.pending)}`);
          conn.socket.destroy();
          conns.delete(currentName);
          break;
        }
        case 'shutdown':
          use().socket.end();
          break;
        case 'advance':
          if (!target.advance) throw new Error(`${where(step)}: target ${target.name} has no fake clock`);
          await target.advance(step.ms);
          break;
        case 'drain':
          if (!target.drain) throw new Error(`${where(step)}: target ${target.name} cannot drain`);
          await target.drain();
          break;
      }
    }
    for (const conn of conns.values()) {
      if (conn.pending.length > 0) {
        throw new Error(
          `${c.file}: case "${c.name}" ended with unexpected bytes on [${conn.name}]: ${show(conn.pending)}`,
        );
      }
    }
  } finally {
    for (const conn of conns.values()) conn.socket.destroy();
  }
}

async function expectOn(
  conn: Conn,
  timeoutMs: number,
  where: string,
  check: (pending: Buffer, ended: boolean) => Check,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ended = conn.ended;
    const result = check(conn.pending, ended);
    if ('done' in result) {
      conn.consume(result.done);
      return;
    }
    if ('fail' in result) throw new Error(`${where}\n  ${result.fail}\n  received: ${show(conn.pending)}`);
    if (ended) {
      const why = conn.error ? `connection error ${conn.error}` : 'connection closed by the server';
      throw new Error(`${where}\n  ${why} before the expectation was met\n  received: ${show(conn.pending)}`);
    }
    const left = deadline - Date.now();
    if (left <= 0 || !(await conn.waitForEvent(left))) {
      throw new Error(`${where}\n  timed out after ${timeoutMs} ms\n  received: ${show(conn.pending)}`);
    }
  }
}

function substitute(parts: Part[], bindings: Bindings, where: () => string): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      if ('bytes' in p) return p.bytes;
      if ('symbol' in p) {
        const id = bindings.get(p.symbol);
        if (id === undefined) throw new Error(`${where()}: $${p.symbol} is not bound yet`);
        return Buffer.from(id, 'latin1');
      }
      throw new Error(`${where()}: "*" only works in "|" lines`);
    }),
  );
}

function checkExpect(parts: Part[], bindings: Bindings, pending: Buffer): Check {
  const unbound = parts.some((p) => 'symbol' in p && (p.symbol === '_' || !bindings.has(p.symbol)));
  if (!unbound) {
    const want = substitute(parts, bindings, () => '');
    const n = Math.min(want.length, pending.length);
    if (!pending.subarray(0, n).equals(want.subarray(0, n))) return { fail: `expected: ${show(want)}` };
    return pending.length >= want.length ? { done: want.length } : { wait: true };
  }
  // A line binding a job id (INSERTED $a, RESERVED $a 5): match it whole once its CRLF is here.
  const re = compile(parts, bindings);
  const eol = pending.indexOf('\r\n');
  if (eol < 0) return { wait: true };
  const m = re.regex.exec(pending.toString('latin1', 0, eol + 2));
  if (!m) return { fail: `expected: /${re.regex.source}/` };
  bind(re.groups, m, bindings);
  return { done: eol + 2 };
}

function checkYaml(lines: YamlLine[], target: Target, bindings: Bindings, pending: Buffer): Check {
  const eol = pending.indexOf('\r\n');
  if (eol < 0) return { wait: true };
  const header = /^OK (\d+)$/.exec(pending.toString('latin1', 0, eol));
  if (!header) return { fail: 'expected: "OK <n>\\r\\n" + YAML' };
  const bodyBytes = Number(header[1]);
  const total = eol + 2 + bodyBytes + 2;
  if (pending.length < total) return { wait: true };
  const body = pending.toString('latin1', eol + 2, eol + 2 + bodyBytes);
  const wanted = lines.filter((l) => !l.only || l.only === target.version);
  const expected = wanted
    .map((l) => (l.parts === 'ellipsis' ? '...' : describe(l.parts, bindings)))
    .join('\n');
  const explain = `expected YAML (n = body bytes):\n    ${expected.replaceAll('\n', '\n    ')}`;
  if (pending.toString('latin1', total - 2, total) !== '\r\n')
    return { fail: `OK ${bodyBytes} body not followed by CRLF; ${explain}` };
  if (!body.endsWith('\n')) return { fail: `YAML body does not end with "\\n"; ${explain}` };
  const got = body.slice(0, -1).split('\n');
  const fresh = new Map(bindings);
  if (!matchLines(wanted, 0, got, 0, fresh)) return { fail: explain };
  for (const [k, v] of fresh) bindings.set(k, v);
  return { done: total };
}

/** Matches YAML lines with `...` backtracking; symbol bindings are committed only on success. */
function matchLines(want: YamlLine[], wi: number, got: string[], gi: number, bindings: Bindings): boolean {
  const w = want[wi];
  if (!w) return gi === got.length;
  if (w.parts === 'ellipsis') {
    for (let skip = gi; skip <= got.length; skip++) {
      const trial = new Map(bindings);
      if (matchLines(want, wi + 1, got, skip, trial)) {
        for (const [k, v] of trial) bindings.set(k, v);
        return true;
      }
    }
    return false;
  }
  const line = got[gi];
  if (line === undefined) return false;
  const re = compile(w.parts, bindings);
  const m = re.regex.exec(line);
  if (!m) return false;
  const trial = new Map(bindings);
  bind(re.groups, m, trial);
  if (!matchLines(want, wi + 1, got, gi + 1, trial)) return false;
  for (const [k, v] of trial) bindings.set(k, v);
  return true;
}

function compile(parts: Part[], bindings: Bindings): { regex: RegExp; groups: string[] } {
  const groups: string[] = [];
  let src = '';
  for (const p of parts) {
    if ('bytes' in p) src += escapeRegex(p.bytes.toString('latin1'));
    else if ('star' in p) src += '[^\\n]*';
    else if (p.symbol === '_') src += '\\d+';
    else if (bindings.has(p.symbol)) src += escapeRegex(bindings.get(p.symbol) as string);
    else if (groups.includes(p.symbol)) src += `\\k<${p.symbol}>`;
    else {
      groups.push(p.symbol);
      src += `(?<${p.symbol}>\\d+)`;
    }
  }
  return { regex: new RegExp(`^${src}$`), groups };
}

function bind(groups: string[], m: RegExpExecArray, bindings: Bindings): void {
  for (const g of groups) {
    const v = m.groups?.[g];
    if (v !== undefined) bindings.set(g, v);
  }
}

function describe(parts: Part[], bindings: Bindings): string {
  return parts
    .map((p) =>
      'bytes' in p
        ? p.bytes.toString('latin1')
        : 'star' in p
          ? '*'
          : (bindings.get(p.symbol) ?? `$${p.symbol}`),
    )
    .join('');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Printable form of received bytes, shortened for big bodies. */
function show(buf: Buffer): string {
  const text = JSON.stringify(buf.toString('latin1', 0, Math.min(buf.length, 600)));
  return buf.length > 600 ? `${text}… (${buf.length} bytes)` : text;
}
