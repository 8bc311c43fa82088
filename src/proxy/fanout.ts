/**
 * Commands that ask every node: `list-tubes` (union) and `stats` (merge, stats-merge.ts). They go
 * over each node's shared control channel, not the client's connections: they depend on no
 * connection state, and the session's ordering rule has already waited for the client's earlier
 * commands. Nodes that are down are skipped (docs/proxy.md, "Node failure").
 */
import { okYaml, type ReplyBytes, yamlList } from '../protocol/replies';
import { readYamlList, readYamlMap } from '../protocol/yaml';
import type { Shard } from './node/shard';
import { PARKING_TUBE } from './session/node-sync';
import type { ClientSession } from './session/session';
import { mergeStats, type NodeStats } from './stats-merge';

async function tubesOf(link: Shard): Promise<string[] | null> {
  const reply = await link.controlRequest({ op: 'list-tubes' });
  return reply?.body ? readYamlList(reply.body) : null;
}

/** Union of the live nodes' tube lists: `default` first, then in node order. */
async function tubeUnion(links: Shard[]): Promise<string[]> {
  const lists = await Promise.all(links.map(tubesOf));
  const union = new Set<string>(['default']);
  for (const list of lists) for (const tube of list ?? []) union.add(tube);
  union.delete(PARKING_TUBE);
  return [...union];
}

function liveLinks(session: ClientSession): Shard[] {
  return session.ctx.pool.all().filter((l) => l.up);
}

export async function handleListTubes(session: ClientSession): Promise<ReplyBytes> {
  session.ctx.counters.countLocal('list-tubes');
  return okYaml(yamlList(await tubeUnion(liveLinks(session))));
}

async function statsOf(link: Shard): Promise<NodeStats | null> {
  const reply = await link.controlRequest({ op: 'stats' });
  if (!reply?.body) return null;
  return { stats: readYamlMap(reply.body), overhead: link.overhead };
}

export async function handleStats(session: ClientSession): Promise<ReplyBytes> {
  const ctx = session.ctx;
  ctx.counters.countLocal('stats');
  const links = liveLinks(session);
  // list-tubes goes first on each channel, so each node's stats already count it (overhead).
  const [tubes, stats] = await Promise.all([tubeUnion(links), Promise.all(links.map(statsOf))]);
  const nodes = stats.filter((s): s is NodeStats => s !== null);
  const body = mergeStats({
    nodes,
    tubeCount: tubes.length,
    counters: ctx.counters,
    maxJobBytes: ctx.maxJobBytes,
    dialect: ctx.dialect,
  });
  return okYaml(body);
}
