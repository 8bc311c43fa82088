/**
 * Commands that ask every node: `list-tubes` (union) and `stats` (merge, stats-merge.ts). They go
 * over each node's shared control channel, not the client's connections: they depend on no
 * connection state, and the session's ordering rule has already waited for the client's earlier
 * commands. Nodes that are down are skipped (see README "Node failure").
 */
import { PARKING_TUBE } from './conn-sync';
import type { NodeLink } from './node-pool';
import { parseYamlList, parseYamlMap, type ReplyParts, yamlList, yamlReply } from './replies';
import type { ClientSession } from './session';
import { mergeStats, type NodeStats } from './stats-merge';

async function tubesOf(link: NodeLink): Promise<string[] | null> {
  const reply = await link.controlRequest('list-tubes', 'cmd-list-tubes');
  return reply?.data ? parseYamlList(reply.data) : null;
}

/** Union of the live nodes' tube lists: `default` first, then in node order. */
async function tubeUnion(links: NodeLink[]): Promise<string[]> {
  const lists = await Promise.all(links.map(tubesOf));
  const union = new Set<string>(['default']);
  for (const list of lists) for (const tube of list ?? []) union.add(tube);
  union.delete(PARKING_TUBE);
  return [...union];
}

function liveLinks(session: ClientSession): NodeLink[] {
  return session.ctx.pool.all().filter((l) => l.up);
}

export async function handleListTubes(session: ClientSession): Promise<ReplyParts> {
  session.ctx.counters.countLocal('cmd-list-tubes');
  return yamlReply(yamlList(await tubeUnion(liveLinks(session))));
}

async function statsOf(link: NodeLink): Promise<NodeStats | null> {
  const reply = await link.controlRequest('stats', 'cmd-stats');
  if (!reply?.data) return null;
  return { stats: parseYamlMap(reply.data), overhead: link.overhead };
}

export async function handleStats(session: ClientSession): Promise<ReplyParts> {
  const ctx = session.ctx;
  ctx.counters.countLocal('cmd-stats');
  const links = liveLinks(session);
  // list-tubes goes first on each channel, so each node's stats already count it (overhead).
  const [tubes, stats] = await Promise.all([tubeUnion(links), Promise.all(links.map(statsOf))]);
  const nodes = stats.filter((s): s is NodeStats => s !== null);
  const body = mergeStats({
    nodes,
    tubeCount: tubes.length,
    counters: ctx.counters,
    maxJobBytes: ctx.maxJobBytes,
  });
  return yamlReply(body);
}
