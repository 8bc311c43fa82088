/**
 * Moving jobs between two stalkd nodes exactly once (docs/migration.md, "Moving jobs"), the client
 * side of src/engine/moves.ts:
 *
 *   source  x-move-out ID DEST  → MOVING <dest> <tube> <state> <pri> <delay-ms> <ttr-ms>
 *                                 (the job is hidden there, durably, until x-move-done)
 *   source  peek ID             → the body
 *   dest    use TUBE; x-import ORIGIN ID pri delay-ms ttr-ms state bytes + body
 *                               → INSERTED <new id> | IMPORTED <new id> (done before)
 *   source  x-move-done ID      → DELETED
 *
 * Each step may be repeated, so a move cut at any point — the migrating process killed, a
 * connection lost, a node restarted — is finished by running it again from the first step: the
 * source still shows the job as moving (`x-list-moving`), the destination answers the import it
 * already made. No job is lost (the source deletes only after the destination has it durably) and
 * none is duplicated (the destination imports an origin job once).
 *
 * `moveBatch` moves a tube's jobs in bounded batches, each step pipelined over the batch: about
 * one round trip per job instead of five.
 */
import { importLine } from '../protocol/request-line';
import { readYamlList } from '../protocol/yaml';
import type { Client } from './client';

export type MovedState = 'ready' | 'delayed' | 'buried';

/** A job moved: its ids at the origin and the destination. */
export interface JobMoved {
  tube: string;
  state: MovedState;
  fromId: number;
  toId: number;
  /** The destination's name (a finished leftover goes where its move started). */
  dest: string;
}

/** The move a source reports for a job (x-move-out's MOVING line). */
interface MoveOut {
  dest: string;
  tube: string;
  state: MovedState;
  pri: number;
  delayMs: number;
  ttrMs: number;
}

export class MoveError extends Error {
  readonly code = 'MOVE_FAILED';
}

const MOVING_LINE = /^MOVING (\S+) (\S+) (ready|delayed|buried) (\d+) (\d+) (\d+)$/;

/** x-move-out: the move, or why there is none (NOT_FOUND: gone or not moving; BUSY: reserved). */
async function moveOut(source: Client, id: number, dest: string): Promise<MoveOut | 'NOT_FOUND' | 'BUSY'> {
  const reply = await source.raw(`x-move-out ${id} ${dest}`);
  if (reply.word === 'NOT_FOUND' || reply.word === 'BUSY') return reply.word;
  const m = MOVING_LINE.exec(reply.line);
  if (!m) throw new MoveError(`x-move-out ${id}: ${reply.line}`);
  return {
    dest: m[1]!,
    tube: m[2]!,
    state: m[3] as MovedState,
    pri: Number(m[4]),
    delayMs: Number(m[5]),
    ttrMs: Number(m[6]),
  };
}

/** Where a node's name leads: a connection to it, or undefined when it is not in the topology. */
export type DestinationOf = (name: string) => Promise<Client | undefined>;

/**
 * Moves job `id` of `source` (named `origin`) to `dest` — or finishes the move it is already in,
 * wherever that goes. Returns the move, or 'gone' (no such job, or not movable: reserved), or
 * 'unknown-destination' when its move goes to a node `destinationOf` does not know.
 */
export async function moveJob(
  source: Client,
  origin: string,
  id: number,
  dest: string,
  destinationOf: DestinationOf,
): Promise<JobMoved | 'gone' | 'busy' | 'unknown-destination'> {
  const move = await moveOut(source, id, dest);
  if (move === 'NOT_FOUND') return 'gone';
  if (move === 'BUSY') return 'busy';
  const target = await destinationOf(move.dest);
  if (target === undefined) return 'unknown-destination';
  const job = await source.peek(id);
  if (job === null) return 'gone'; // another migrate finished it meanwhile
  await target.use(move.tube);
  const line = importLine({ node: origin, originId: id, ...move }, job.body.length);
  const reply = await target.raw(line, job.body);
  const m = /^(?:INSERTED|IMPORTED) (\d+)$/.exec(reply.line);
  if (!m) throw new MoveError(`x-import on ${move.dest}: ${reply.line} (the job stays moving on ${origin})`);
  const done = await source.raw(`x-move-done ${id}`);
  if (done.word !== 'DELETED' && done.word !== 'NOT_FOUND')
    throw new MoveError(`x-move-done ${id} on ${origin}: ${done.line}`);
  return { tube: move.tube, state: move.state, fromId: id, toId: Number(m[1]), dest: move.dest };
}

/** A job taken out of its source for a batch: its id and body, and the move the source logged. */
interface OutForBatch {
  id: number;
  body: Buffer;
  move: MoveOut;
}

/**
 * A batch's bounds: the jobs hidden at once (each invisible to workers until its batch ends) and
 * the bodies held here. The first job is always taken, whatever its size.
 */
export const MOVE_BATCH_JOBS = 64;
export const MOVE_BATCH_BYTES = 1024 * 1024;

/** The next job to move: a peek-ready/-delayed/-buried on the source, whose used tube is the tube's. */
export type PeekNext = () => Promise<{ id: number; body: Buffer } | null>;

/**
 * Step 1 for up to MOVE_BATCH_JOBS jobs (MOVE_BATCH_BYTES of bodies): each x-move-out is sent
 * together with the next peek, which finds the following job (the one just moved out is hidden).
 * A job whose move is already under way to another node is finished alone by moveJob.
 */
async function takeOut(
  source: Client,
  names: { origin: string; dest: string },
  peekNext: PeekNext,
  destinationOf: DestinationOf,
  moved: JobMoved[],
): Promise<OutForBatch[]> {
  const out: OutForBatch[] = [];
  let bytes = 0;
  let job = await peekNext();
  while (
    job &&
    out.length < MOVE_BATCH_JOBS &&
    (bytes === 0 || bytes + job.body.length <= MOVE_BATCH_BYTES)
  ) {
    const [move, next] = await Promise.all([moveOut(source, job.id, names.dest), peekNext()]);
    if (typeof move === 'object' && move.dest === names.dest) {
      out.push({ id: job.id, body: job.body, move });
      bytes += job.body.length;
    } else if (typeof move === 'object') {
      const result = await moveJob(source, names.origin, job.id, move.dest, destinationOf);
      if (result === 'unknown-destination') throw new MoveError(`job ${job.id} moves to an unknown node`);
      if (typeof result === 'object') moved.push(result);
    } // else reserved or deleted meanwhile
    if (next?.id === job.id) break; // the job just moved out cannot be peeked again: never spin
    job = next;
  }
  return out;
}

/**
 * Moves the jobs `peekNext` finds on `source` to `dest`, one bounded batch (MOVE_BATCH_JOBS): the
 * three steps of moveJob, each pipelined over the batch — x-move-out with the next peek (takeOut),
 * then every x-import back to back on the destination, in the source's order (the buried order is
 * kept), then the x-move-done of each job the destination acknowledged. The guarantees are
 * moveJob's, job by job: the source deletes a job only once the destination holds it durably, and
 * a stop anywhere leaves the batch's other jobs moving, for the next run to finish (x-list-moving,
 * oldest move first). Returns the jobs moved; none when `peekNext` found nothing to move.
 */
export async function moveBatch(
  source: Client,
  names: { origin: string; dest: string },
  peekNext: PeekNext,
  destinationOf: DestinationOf,
): Promise<JobMoved[]> {
  const moved: JobMoved[] = [];
  const out = await takeOut(source, names, peekNext, destinationOf, moved);
  if (out.length === 0) return moved;
  const target = await destinationOf(names.dest);
  if (target === undefined) throw new MoveError(`${names.dest} is not in the topology (jobs stay moving)`);
  const tube = (out[0] as OutForBatch).move.tube;
  const [, ...imports] = await Promise.all([
    target.use(tube),
    ...out.map((o) =>
      target.raw(importLine({ node: names.origin, originId: o.id, ...o.move }, o.body.length), o.body),
    ),
  ]);
  const newIds = imports.map((reply) => /^(?:INSERTED|IMPORTED) (\d+)$/.exec(reply.line));
  const done = await Promise.all(out.map((o, i) => (newIds[i] ? source.raw(`x-move-done ${o.id}`) : null)));
  for (const [i, o] of out.entries()) {
    const reply = done[i];
    if (!reply) continue;
    if (reply.word !== 'DELETED' && reply.word !== 'NOT_FOUND')
      throw new MoveError(`x-move-done ${o.id} on ${names.origin}: ${reply.line}`);
    moved.push({ tube, state: o.move.state, fromId: o.id, toId: Number(newIds[i]?.[1]), dest: names.dest });
  }
  const failed = newIds.indexOf(null);
  if (failed >= 0)
    throw new MoveError(
      `x-import on ${names.dest}: ${imports[failed]?.line} (job ${out[failed]?.id} stays moving on ${names.origin})`,
    );
  return moved;
}

/** Ids of the jobs a stalkd node holds as moving (moves cut short, or in progress elsewhere). */
export async function listMoving(node: Client): Promise<number[]> {
  const reply = await node.raw('x-list-moving');
  if (reply.word !== 'OK' || reply.body === undefined) throw new MoveError(`x-list-moving: ${reply.line}`);
  return readYamlList(reply.body).map(Number);
}

/** True when the node answers stalkd's extensions (x-hello): a stock beanstalkd does not. */
export async function speaksMoves(node: Client): Promise<boolean> {
  const reply = await node.raw('x-hello');
  return reply.word === 'OK';
}
