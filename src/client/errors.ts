/**
 * Errors the client rejects with. Protocol *outcomes* a caller must branch on (NOT_FOUND,
 * TIMED_OUT, …) are resolved values, never errors; see client.ts.
 */

/**
 * Reply words that mean "the server refused or failed this command". `BURIED` appears here only
 * for `put`: beanstalkd answers `BURIED <id>` when it stored the job but could not grow its ready
 * heap (out of memory); `UNEXPECTED` stands for a well-formed reply the command cannot produce.
 */
export type ProtocolErrorWord =
  | 'BAD_FORMAT'
  | 'UNKNOWN_COMMAND'
  | 'OUT_OF_MEMORY'
  | 'INTERNAL_ERROR'
  | 'DRAINING'
  | 'JOB_TOO_BIG'
  | 'EXPECTED_CRLF'
  | 'BURIED'
  | 'UNEXPECTED';

const KNOWN_WORDS = new Set<string>([
  'BAD_FORMAT',
  'UNKNOWN_COMMAND',
  'OUT_OF_MEMORY',
  'INTERNAL_ERROR',
  'DRAINING',
  'JOB_TOO_BIG',
  'EXPECTED_CRLF',
]);

/** The server answered a command with an error word. The connection stays open and in sync. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** The error word, or `UNEXPECTED` when the reply is not one this command can produce. */
  readonly code: ProtocolErrorWord;
  /** First token of the reply as received (equals `code` except for `UNEXPECTED`). */
  readonly word: string;
  /** Whole reply line without CRLF. */
  readonly line: string;
  /** Command verb that got this reply (`put`, `reserve-with-timeout`, …). */
  readonly command: string;
  /** Job id for `put` → `BURIED <id>` (the job exists, buried). */
  readonly id: number | undefined;

  constructor(command: string, word: string, line: string, id?: number) {
    const code: ProtocolErrorWord =
      KNOWN_WORDS.has(word) || (word === 'BURIED' && command === 'put')
        ? (word as ProtocolErrorWord)
        : 'UNEXPECTED';
    super(code === 'UNEXPECTED' ? `${command}: unexpected reply "${line}"` : `${command}: ${line}`);
    this.code = code;
    this.word = word;
    this.line = line;
    this.command = command;
    this.id = id;
  }
}

/**
 * Codes of connection-level failures. System codes (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, …)
 * are passed through from the socket; the client adds:
 * - `ETIMEDOUT`: connect did not complete within `timeoutMs`;
 * - `CLOSED`: the connection was closed (by `close()`/`quit()` or by the server) before a reply;
 * - `BAD_REPLY`: the server sent bytes that are not a beanstalkd reply (or a reply nobody asked
 *   for); the stream cannot be resynchronised, so the connection is destroyed.
 */
export type ConnectionErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'EPIPE'
  | 'ETIMEDOUT'
  | 'CLOSED'
  | 'BAD_REPLY'
  | (string & {});

/** The connection failed or ended; every command in flight on it rejects with this. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}
