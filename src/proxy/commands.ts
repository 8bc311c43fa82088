/**
 * Client commands as the proxy routes them. Parsing is the node's own (src/protocol): the same
 * prefix dispatch, 224-byte lines, read_u32/read_u64 rules, JOB_TOO_BIG bit bucket — so the proxy
 * frames input exactly as a stalkd node (and beanstalkd) would. This file maps the parser's
 * `Request`s to what the proxy forwards: seconds back on the wire, ids as client ids, and the
 * internal x-* commands refused (clients never reach them: UNKNOWN_COMMAND, as beanstalkd says).
 */
import type { Request } from '../protocol/commands';

export const Verb = {
  Put: 'put',
  Peek: 'peek',
  PeekReady: 'peek-ready',
  PeekDelayed: 'peek-delayed',
  PeekBuried: 'peek-buried',
  ReserveWithTimeout: 'reserve-with-timeout',
  ReserveJob: 'reserve-job',
  Reserve: 'reserve',
  Delete: 'delete',
  Release: 'release',
  Bury: 'bury',
  Kick: 'kick',
  KickJob: 'kick-job',
  Touch: 'touch',
  StatsJob: 'stats-job',
  StatsTube: 'stats-tube',
  Stats: 'stats',
  Use: 'use',
  Watch: 'watch',
  Ignore: 'ignore',
  ListTubesWatched: 'list-tubes-watched',
  ListTubeUsed: 'list-tube-used',
  ListTubes: 'list-tubes',
  Quit: 'quit',
  PauseTube: 'pause-tube',
} as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

export interface Command {
  verb: Verb;
  /** Tube argument (use, watch, ignore, stats-tube, pause-tube). */
  tube: string;
  /** Client job id (id commands); −1 for ids no job can have (≥ 2^53). */
  id: number;
  /**
   * Numeric arguments as forwarded: put pri/delay/ttr/bytes (seconds), release pri/delay,
   * bury pri, reserve-with-timeout seconds, pause-tube seconds, kick bound.
   */
  nums: number[];
  /** put only: body including its CRLF. */
  body?: Buffer;
}

export type ErrorReply = 'BAD_FORMAT' | 'UNKNOWN_COMMAND' | 'JOB_TOO_BIG' | 'EXPECTED_CRLF';

export type ClientEvent =
  | { kind: 'command'; command: Command }
  /** A reply the proxy gives itself; `countedAs` names the stats key beanstalkd bumps for it. */
  | { kind: 'error'; reply: ErrorReply; countedAs?: string };

function command(verb: Verb, tube = '', id = 0, nums: number[] = []): ClientEvent {
  return { kind: 'command', command: { verb, tube, id, nums } };
}

function errorEvent(reply: ErrorReply, count: string | null): ClientEvent {
  return count ? { kind: 'error', reply, countedAs: `cmd-${count}` } : { kind: 'error', reply };
}

const UNKNOWN: ClientEvent = { kind: 'error', reply: 'UNKNOWN_COMMAND' };

function fromPut(req: Extract<Request, { op: 'put' }>): ClientEvent {
  if (!req.bodyOk) return errorEvent('EXPECTED_CRLF', 'put');
  const event = command(Verb.Put, '', 0, [
    req.pri,
    req.delayMs / 1000,
    req.ttrMs / 1000,
    req.body.length - 2,
  ]);
  if (event.kind === 'command') event.command.body = req.body;
  return event;
}

/** Maps one parsed request to the proxy's view. */
export function toClientEvent(req: Request): ClientEvent {
  switch (req.op) {
    case 'error':
      return errorEvent(req.word, req.count);
    case 'put':
      return fromPut(req);
    case 'use':
    case 'watch':
    case 'ignore':
    case 'stats-tube':
      return command(req.op, req.tube);
    case 'pause-tube':
      return command(Verb.PauseTube, req.tube, 0, [req.delayMs / 1000]);
    case 'reserve-with-timeout':
      return command(Verb.ReserveWithTimeout, '', 0, [req.timeoutMs / 1000]);
    case 'release':
      return command(Verb.Release, '', req.id, [req.pri, req.delayMs / 1000]);
    case 'bury':
      return command(Verb.Bury, '', req.id, [req.pri]);
    case 'kick':
      return command(Verb.Kick, '', 0, [req.bound]);
    case 'reserve-job':
    case 'delete':
    case 'touch':
    case 'peek':
    case 'kick-job':
    case 'stats-job':
      return command(req.op, '', req.id);
    case 'quit':
    case 'reserve':
    case 'peek-ready':
    case 'peek-delayed':
    case 'peek-buried':
    case 'stats':
    case 'list-tubes':
    case 'list-tube-used':
    case 'list-tubes-watched':
      return command(req.op);
    default:
      // x-hello, x-cancel, x-reserve-wait, x-unreserve: node-internal.
      return UNKNOWN;
  }
}
