/**
 * Commands that change nothing (peek, peek-ready/-delayed/-buried, stats-job, stats-tube) and whose
 * shard has replicas are not failed by a failover (docs/failover.md, "What clients see"): one whose
 * node connection fails while it is in flight, or that finds the shard down, waits until the shard
 * serves again — its primary back, or a standby promoted — and runs there, once. It gets
 * INTERNAL_ERROR only when the shard does not serve again within READ_RETRY_WAIT_MS. Safe because
 * running such a command twice, or later than it was sent, shows the client nothing a single
 * beanstalkd could not have shown it.
 */
import type { ClientRequest } from './types';

/** How long a read waits for its shard to serve again before INTERNAL_ERROR. */
export const READ_RETRY_WAIT_MS = 10_000;

const READ_ONLY = new Set<ClientRequest['op']>([
  'peek',
  'peek-ready',
  'peek-delayed',
  'peek-buried',
  'stats-job',
  'stats-tube',
]);

export function isReadOnly(req: ClientRequest): boolean {
  return READ_ONLY.has(req.op);
}

/** What the wait needs of a shard (node/shard.ts Shard fits). */
export interface ServingShard {
  readonly replicated: boolean;
  whenServing(): Promise<void>;
}

/**
 * Resolves true once `shard` serves again, false when it has no replicas (nothing will take over)
 * or READ_RETRY_WAIT_MS pass first.
 */
export function untilServing(shard: ServingShard | undefined): Promise<boolean> {
  if (!shard?.replicated) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), READ_RETRY_WAIT_MS);
    timer.unref();
    void shard.whenServing().then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
