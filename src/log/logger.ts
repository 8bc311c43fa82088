/**
 * Operator logs for `stalkd node` and `stalkd proxy`: one line per event on stderr, as text
 *
 *   2026-12-07T01:50:00.123Z INFO  node start version=0.1.0 listen=0.0.0.0:11300 jobs=12
 *
 * or as JSON (`--log-format json`, one object per line: `ts`, `level`, `component`, `msg`, then the
 * fields). `--log-level error|warn|info|debug` drops what is below it.
 *
 * Events are messages with structured fields, never free text built from client input: callers
 * pass what a field is (an address, a count, a reason), and no call site passes a job body or a
 * token. Text values with spaces, quotes or control characters are quoted and escaped so a field
 * can never forge a second line.
 *
 * Warnings that a misbehaving client or a failing disk can repeat (refused connections, timeouts,
 * write errors) go through `warnLimited(key, …)`: the first of a key is logged, then at most one
 * per `limitMs`, which says how many were left out meanwhile. Keys are a fixed set of call sites,
 * never client data, so the map stays small.
 */
import { hostname } from 'node:os';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

export interface LoggerOptions {
  component: string;
  format?: LogFormat;
  level?: LogLevel;
  /** Where each line goes (with its newline); default stderr. */
  write?: (line: string) => void;
  nowMs?: () => number;
  /** Rate limit of warnLimited, per key. */
  limitMs?: number;
}

/** One warning a minute per key at most: enough to see it continues, never a flood. */
export const DEFAULT_WARN_LIMIT_MS = 60_000;
/** Distinct warnLimited keys tracked; past this, the oldest is forgotten. */
const MAX_LIMIT_KEYS = 64;

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

function textValue(v: LogValue): string {
  if (v === null || v === undefined) return '-';
  if (typeof v !== 'string') return String(v);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return v !== '' && !/[\s"=\\\u0000-\u001f\u007f]/.test(v) ? v : JSON.stringify(v);
}

export class Logger {
  private readonly format: LogFormat;
  private readonly rank: number;
  private readonly write: (line: string) => void;
  private readonly nowMs: () => number;
  private readonly limitMs: number;
  private readonly limited = new Map<string, { lastAtMs: number; suppressed: number }>();

  constructor(private readonly options: LoggerOptions) {
    this.format = options.format ?? 'text';
    this.rank = RANK[options.level ?? 'info'];
    this.write = options.write ?? ((line) => void process.stderr.write(line));
    this.nowMs = options.nowMs ?? Date.now;
    this.limitMs = options.limitMs ?? DEFAULT_WARN_LIMIT_MS;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.rank;
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  /** A warning at most once per limit window for `key`; the next one counts the left-out ones. */
  warnLimited(key: string, msg: string, fields?: LogFields): void {
    if (!this.enabled('warn')) return;
    const nowMs = this.nowMs();
    const state = this.limited.get(key);
    if (state && nowMs - state.lastAtMs < this.limitMs) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.limited.delete(key);
    if (this.limited.size >= MAX_LIMIT_KEYS) this.limited.delete(this.limited.keys().next().value as string);
    this.limited.set(key, { lastAtMs: nowMs, suppressed: 0 });
    this.log('warn', msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const ts = new Date(this.nowMs()).toISOString();
    const { component } = this.options;
    if (this.format === 'json') {
      this.write(`${JSON.stringify({ ts, level, component, msg, ...fields })}\n`);
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${component} ${msg}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${textValue(value)}`;
    }
    this.write(`${line}\n`);
  }
}

/** Fields every start line carries: what runs where. */
export function processFields(version: string): LogFields {
  return { version, node_version: process.version, pid: process.pid, host: hostname() };
}
