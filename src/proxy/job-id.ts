/**
 * Job ids as clients see them through the proxy. Every node numbers its own jobs 1, 2, 3… (stock
 * beanstalkd and stalkd alike), so the proxy interleaves them:
 *
 *   clientId = (nodeId − 1) · MAX_NODES + nodeIndex + 1
 *   nodeIndex = (clientId − 1) mod MAX_NODES,  nodeId = ⌊(clientId − 1) / MAX_NODES⌋ + 1
 *
 * MAX_NODES = 64 (a power of two, so the mapping is a shift in binary). Client ids stay below 2^53
 * (exact in a JS number, which is how npm clients hold them) while nodeId ≤ 2^53 / 64 = 2^47
 * ≈ 1.4·10^14 jobs per node — 44 years at 100 000 puts/s. Any proxy computes the same mapping from
 * the node index alone, so proxies stay stateless and interchangeable.
 *
 * Changing MAX_NODES changes every id: it is part of the wire contract.
 */
export const MAX_NODES = 64;

/** Largest node-local id that still maps below 2^53. */
export const MAX_NODE_JOB_ID = Math.floor((Number.MAX_SAFE_INTEGER - MAX_NODES) / MAX_NODES) + 1;

export interface NodeJobId {
  nodeIndex: number;
  nodeId: number;
}

/** Client-visible id for job `nodeId` on node `nodeIndex`, or null when it would reach 2^53. */
export function encodeJobId(nodeIndex: number, nodeId: number): number | null {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1 || nodeId > MAX_NODE_JOB_ID) return null;
  return (nodeId - 1) * MAX_NODES + nodeIndex + 1;
}

/** Splits a client id; null for 0 and for ids ≥ 2^53 (no proxy ever issued them). */
export function decodeJobId(clientId: number): NodeJobId | null {
  if (!Number.isSafeInteger(clientId) || clientId < 1) return null;
  const zeroBased = clientId - 1;
  return { nodeIndex: zeroBased % MAX_NODES, nodeId: Math.floor(zeroBased / MAX_NODES) + 1 };
}
