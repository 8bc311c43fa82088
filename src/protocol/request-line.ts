/**
 * Request formatting, the inverse of commands.ts: the command line (without CRLF) that a client,
 * or the proxy talking to its nodes, sends for a typed Request. Times go back to whole seconds as on
 * the wire (the parser made milliseconds of them); a put's body follows its line with its CRLF.
 */
import type { Request } from './commands';

/** `put <pri> <delay> <ttr> <bytes>`. */
export function putLine(pri: number, delaySecs: number, ttrSecs: number, bodyBytes: number): string {
  return `put ${pri} ${delaySecs} ${ttrSecs} ${bodyBytes}`;
}

const secs = (ms: number): number => ms / 1000;

/** `x-put <tube> <pri> <delay> <ttr> <bytes>`: a put into `tube` without `use` (stalkd nodes). */
export function putIntoLine(
  tube: string,
  pri: number,
  delaySecs: number,
  ttrSecs: number,
  bodyBytes: number,
): string {
  return `x-put ${tube} ${pri} ${delaySecs} ${ttrSecs} ${bodyBytes}`;
}

/** `x-import <node> <origin-id> <pri> <delay-ms> <ttr-ms> <state> <bytes>` (docs/migration.md). */
export function importLine(
  job: { node: string; originId: number; pri: number; delayMs: number; ttrMs: number; state: string },
  bodyBytes: number,
): string {
  return `x-import ${job.node} ${job.originId} ${job.pri} ${job.delayMs} ${job.ttrMs} ${job.state} ${bodyBytes}`;
}

/**
 * The line for `req`. For requests naming a job, `id` replaces the request's own (the proxy sends
 * the node-local id). An `error` request has no line: it is a programmer error to format one.
 */
export function requestLine(req: Request, id = 'id' in req ? req.id : 0): string {
  switch (req.op) {
    case 'put':
      return putLine(req.pri, secs(req.delayMs), secs(req.ttrMs), req.body.length - 2);
    case 'use':
    case 'watch':
    case 'ignore':
    case 'stats-tube':
      return `${req.op} ${req.tube}`;
    case 'pause-tube':
      return `pause-tube ${req.tube} ${secs(req.delayMs)}`;
    case 'reserve-with-timeout':
      return `reserve-with-timeout ${secs(req.timeoutMs)}`;
    case 'reserve-job':
    case 'delete':
    case 'touch':
    case 'peek':
    case 'kick-job':
    case 'stats-job':
    case 'x-unreserve':
    case 'x-move-done':
      return `${req.op} ${id}`;
    case 'x-move-out':
      return `x-move-out ${id} ${req.dest}`;
    case 'x-import':
      return importLine(req, req.body.length - 2);
    case 'x-put':
      return putIntoLine(req.tube, req.pri, secs(req.delayMs), secs(req.ttrMs), req.body.length - 2);
    case 'release':
      return `release ${id} ${req.pri} ${secs(req.delayMs)}`;
    case 'bury':
      return `bury ${id} ${req.pri}`;
    case 'kick':
      return `kick ${req.bound}`;
    case 'x-reserve-wait':
      return `x-reserve-wait ${secs(req.timeoutMs)} ${req.flags}`;
    case 'error':
      throw new TypeError(`an ${req.word} error is not a request`);
    default:
      return req.op;
  }
}
