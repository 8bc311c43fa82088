/**
 * Tube-level operations built from plain protocol commands (client side), shared by the dashboard
 * and the CLI:
 * peek the next job of a state, kick, pause, and clear (delete every buried, delayed and ready job).
 * `kick` and `peek-*` act on the connection's used tube, so each operation here sends its own `use`
 * first; callers that share a connection must not interleave operations (OpsChannel does that).
 */
import type { JobStats } from '../protocol/stats';
import type { Client } from './client';

export const PeekState = { Ready: 'ready', Delayed: 'delayed', Buried: 'buried' } as const;
export type PeekState = (typeof PeekState)[keyof typeof PeekState];
export const PEEK_STATES: readonly PeekState[] = [PeekState.Ready, PeekState.Delayed, PeekState.Buried];

export interface PeekedJob {
  id: number;
  body: Buffer;
  /** null when the job went away between the peek and its stats-job. */
  stats: JobStats | null;
}

function peekOf(client: Client, state: PeekState) {
  if (state === PeekState.Ready) return client.peekReady();
  if (state === PeekState.Delayed) return client.peekDelayed();
  return client.peekBuried();
}

/** The job `peek-<state>` shows for `tube`, with its stats; null when there is none. */
export async function peekTube(client: Client, tube: string, state: PeekState): Promise<PeekedJob | null> {
  const [, job] = await Promise.all([client.use(tube), peekOf(client, state)]);
  if (!job) return null;
  return { id: job.id, body: job.body, stats: await client.statsJob(job.id) };
}

/** `kick <bound>` in `tube`: buried jobs if it has any, else delayed ones. Returns the count. */
export async function kickTube(client: Client, tube: string, bound: number): Promise<number> {
  const [, kicked] = await Promise.all([client.use(tube), client.kick(bound)]);
  return kicked;
}

export interface ClearProgress {
  tube: string;
  deleted: number;
  /** Jobs that were deletable (ready + delayed + buried) when the clear began. */
  total: number;
}

export interface ClearResult extends ClearProgress {
  /** Reserved jobs, which only their worker may delete, left in the tube at the end. */
  reservedLeft: number;
}

export interface ClearOptions {
  /** Jobs deleted between progress reports and event-loop yields. */
  batchSize?: number;
  onProgress?: (progress: ClearProgress) => void;
  /** Checked between batches; true stops the clear early. */
  cancelled?: () => boolean;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Deletes the tube's buried, delayed and ready jobs, in that order, by peek + delete, in batches.
 * A job reserved by a worker between our peek and delete answers NOT_FOUND and is skipped. At most
 * `total` + one batch deletions happen, so a producer putting as fast as we delete cannot keep the
 * clear going forever. Use a connection of its own: it changes the used tube.
 */
export async function clearTube(
  client: Client,
  tube: string,
  options: ClearOptions = {},
): Promise<ClearResult> {
  const batchSize = options.batchSize ?? 200;
  const [, before] = await Promise.all([client.use(tube), client.statsTube(tube)]);
  if (!before) return { tube, deleted: 0, total: 0, reservedLeft: 0 };
  const total = before['current-jobs-ready'] + before['current-jobs-delayed'] + before['current-jobs-buried'];
  const limit = total + batchSize;
  let deleted = 0;
  let attempts = 0;
  options.onProgress?.({ tube, deleted, total });
  for (const state of [PeekState.Buried, PeekState.Delayed, PeekState.Ready]) {
    while (attempts < limit && !options.cancelled?.()) {
      let emptied = false;
      for (let i = 0; i < batchSize && attempts < limit; i++) {
        const job = await peekOf(client, state);
        if (!job) {
          emptied = true;
          break;
        }
        attempts++;
        if ((await client.delete(job.id)) === 'DELETED') deleted++;
      }
      options.onProgress?.({ tube, deleted, total });
      if (emptied) break;
      await yieldToLoop();
    }
  }
  const after = await client.statsTube(tube);
  return { tube, deleted, total, reservedLeft: after?.['current-jobs-reserved'] ?? 0 };
}
