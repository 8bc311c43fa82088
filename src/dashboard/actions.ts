/**
 * Requests the browser sends over the WebSocket, checked and carried out. One JSON object per
 * message, `{ id, op, ... }`; the answer is `{ type: 'reply', id, ok, result | error, code }`.
 *
 *   peek      { tube, state: ready|delayed|buried }        read (shows job bodies)
 *   kick      { tube, bound }                              admin
 *   kick-job  { jobId }                                    admin
 *   delete    { jobId }                                    admin
 *   pause     { tube, delaySecs }  (0 = unpause)           admin
 *   clear     { tube }  progress: { type: 'progress', id, deleted, total }   admin
 *   move-tube { tube, node }  progress: { type: 'progress', id, moved, total }  admin
 *             pins the tube to the node in the topology file and runs migrate for it (TubeMover)
 *
 * Admin requests carry `token`; they are refused (FORBIDDEN) unless it matches, and refused
 * (DISABLED) when no token is configured. Peeks carry `token` too: the read token or the admin
 * token; without either configured they are DISABLED (counts and rates need no token). Job ids may be numbers or decimal strings (ids can exceed
 * what a JSON number a browser produces keeps exactly only beyond 2^53, which beanstalkd never
 * reaches).
 */
import { ConnectionError, ProtocolError } from '../client';
import { type BodyView, hasControlChar, viewBody } from '../client/job-view';
import {
  type ClearResult,
  clearTube,
  kickTube,
  PEEK_STATES,
  type PeekState,
  peekTube,
} from '../client/tube-ops';
import type { OpsChannel } from './ops-channel';

export const ActionCode = {
  BadRequest: 'BAD_REQUEST',
  Forbidden: 'FORBIDDEN',
  Disabled: 'DISABLED',
  NotFound: 'NOT_FOUND',
  Busy: 'BUSY',
  Failed: 'FAILED',
  /** The topology file cannot be written: the message carries the pin to apply by hand. */
  ReadOnly: 'READ_ONLY',
} as const;
export type ActionCode = (typeof ActionCode)[keyof typeof ActionCode];

export class ActionError extends Error {
  constructor(
    readonly code: ActionCode,
    message: string,
  ) {
    super(message);
  }
}

export type ActionRequest =
  | { op: 'peek'; tube: string; state: PeekState }
  | { op: 'kick'; tube: string; bound: number }
  | { op: 'kick-job'; jobId: number }
  | { op: 'delete'; jobId: number }
  | { op: 'pause'; tube: string; delaySecs: number }
  | { op: 'clear'; tube: string }
  | { op: 'move-tube'; tube: string; node: string };

export const ADMIN_OPS: ReadonlySet<string> = new Set([
  'kick',
  'kick-job',
  'delete',
  'pause',
  'clear',
  'move-tube',
]);

/** How far a tube move got: jobs moved of those planned. */
export interface MoveProgress {
  moved: number;
  total: number;
}

export interface MoveTubeResult {
  tube: string;
  node: string;
  /** False when the pin was in the topology already. */
  pinned: boolean;
  moved: number;
  /** Reserved jobs still on their old node when the wait for their workers ended. */
  reservedLeft: number;
  /** Nodes the tube's jobs still sit on besides its owner (0: done). */
  left: number;
}

/**
 * Moves a tube to a node the way an operator would (src/cli/dashboard-move.ts: pin in the topology
 * file, every proxy reloads it, migrate for that tube). Throws ActionError for a refusal.
 */
export interface TubeMover {
  move(tube: string, node: string, onProgress: (p: MoveProgress) => void): Promise<MoveTubeResult>;
}
/** Operations that only read, but read job bodies: the read token (or the admin token) opens them. */
export const READ_OPS: ReadonlySet<string> = new Set(['peek']);

const U32_MAX = 0xffffffff;
const TUBE_NAME_MAX_BYTES = 200;

function bad(message: string): ActionError {
  return new ActionError(ActionCode.BadRequest, message);
}

function tubeOf(msg: Record<string, unknown>): string {
  const tube = msg.tube;
  if (typeof tube !== 'string' || tube.length === 0 || Buffer.byteLength(tube) > TUBE_NAME_MAX_BYTES)
    throw bad('tube must be a name of 1-200 bytes');
  if (/\s/.test(tube) || hasControlChar(tube)) throw bad('tube names have no spaces or control characters');
  return tube;
}

/** A node name as the topology spells them (topology.ts); whether it exists is the mover's check. */
function nodeOf(msg: Record<string, unknown>): string {
  const node = msg.node;
  if (typeof node !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(node))
    throw bad('node must be a node name: 1-64 chars of [A-Za-z0-9._-]');
  return node;
}

function u32Of(msg: Record<string, unknown>, field: string, fallback?: number): number {
  const raw = msg[field] ?? fallback;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > U32_MAX)
    throw bad(`${field} must be a whole number 0..${U32_MAX}`);
  return n;
}

function jobIdOf(msg: Record<string, unknown>): number {
  const raw = msg.jobId;
  const n = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad('jobId must be a job id');
  return n;
}

/** Checks a decoded message's shape; throws ActionError(BAD_REQUEST). */
export function parseActionRequest(msg: Record<string, unknown>): ActionRequest {
  switch (msg.op) {
    case 'peek': {
      const state = msg.state;
      if (!PEEK_STATES.includes(state as PeekState)) throw bad('state must be ready, delayed or buried');
      return { op: 'peek', tube: tubeOf(msg), state: state as PeekState };
    }
    case 'kick':
      return { op: 'kick', tube: tubeOf(msg), bound: u32Of(msg, 'bound', 1) };
    case 'kick-job':
      return { op: 'kick-job', jobId: jobIdOf(msg) };
    case 'delete':
      return { op: 'delete', jobId: jobIdOf(msg) };
    case 'pause':
      return { op: 'pause', tube: tubeOf(msg), delaySecs: u32Of(msg, 'delaySecs') };
    case 'clear':
      return { op: 'clear', tube: tubeOf(msg) };
    case 'move-tube':
      return { op: 'move-tube', tube: tubeOf(msg), node: nodeOf(msg) };
    default:
      throw bad(`unknown op ${JSON.stringify(msg.op)}`);
  }
}

export interface PeekResult {
  state: PeekState;
  tube: string;
  job: null | {
    id: number;
    body: BodyView;
    stats: Record<string, string | number> | null;
  };
}

export interface ActionContext {
  ops: OpsChannel;
  peekBodyBytes: number;
  onClearProgress: (deleted: number, total: number) => void;
  /** Absent: the dashboard has no topology file to pin in (a lone node, `--nodes`). */
  mover: TubeMover | undefined;
  onMoveProgress: (p: MoveProgress) => void;
}

function notFound(what: string): ActionError {
  return new ActionError(ActionCode.NotFound, `${what} not found`);
}

/** Carries out a checked request; protocol outcomes become results or ActionErrors. */
export async function performAction(
  req: ActionRequest,
  ctx: ActionContext,
): Promise<PeekResult | ClearResult | MoveTubeResult | Record<string, unknown>> {
  try {
    return await perform(req, ctx);
  } catch (err) {
    if (err instanceof ActionError) throw err;
    if (err instanceof ProtocolError || err instanceof ConnectionError)
      throw new ActionError(ActionCode.Failed, `${err.code}: ${err.message}`);
    throw err;
  }
}

async function perform(req: ActionRequest, ctx: ActionContext) {
  const { ops } = ctx;
  switch (req.op) {
    case 'peek': {
      const job = await ops.run((c) => peekTube(c, req.tube, req.state));
      return {
        state: req.state,
        tube: req.tube,
        job: job && { id: job.id, body: viewBody(job.body, ctx.peekBodyBytes), stats: job.stats },
      } satisfies PeekResult;
    }
    case 'kick':
      return { kicked: await ops.run((c) => kickTube(c, req.tube, req.bound)) };
    case 'kick-job':
      if ((await ops.run((c) => c.kickJob(req.jobId))) === 'NOT_FOUND')
        throw notFound(`job ${req.jobId} (or it is not buried/delayed)`);
      return { kicked: 1 };
    case 'delete':
      if ((await ops.run((c) => c.delete(req.jobId))) === 'NOT_FOUND')
        throw notFound(`job ${req.jobId} (or it is reserved by a worker)`);
      return { deleted: req.jobId };
    case 'pause':
      if ((await ops.run((c) => c.pauseTube(req.tube, req.delaySecs))) === 'NOT_FOUND')
        throw notFound(`tube ${req.tube}`);
      return { paused: req.tube, delaySecs: req.delaySecs };
    case 'clear':
      return ops.dedicated((c) =>
        clearTube(c, req.tube, { onProgress: (p) => ctx.onClearProgress(p.deleted, p.total) }),
      );
    case 'move-tube':
      if (!ctx.mover)
        throw new ActionError(
          ActionCode.Disabled,
          'moving a tube needs a topology file: start the proxy with --topology FILE',
        );
      return ctx.mover.move(req.tube, req.node, ctx.onMoveProgress);
  }
}
