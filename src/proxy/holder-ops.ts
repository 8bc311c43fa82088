/**
 * Tube commands for a tube whose jobs sit on several nodes — its owner and previous owners
 * (routing.ts, docs/migration.md) — answered as one beanstalkd would:
 *
 * - `peek-ready`: each holder's next ready job; the lowest priority wins, then the oldest
 *   (`stats-job` age), then the lower node index;
 * - `peek-delayed`: the one that becomes ready first (`time-left`), then the oldest;
 * - `peek-buried`: previous owners first (their jobs were buried before the tube moved), in index
 *   order, then the owner;
 * - `kick N`: buried jobs if any holder has some (previous owners first), else delayed ones, up to
 *   N in all;
 * - `stats-tube`: job counts, `total-jobs`, `cmd-delete`, `cmd-pause-tube` summed; the connection
 *   counts and pause fields are the largest of the holders' (every client connection that watches
 *   or uses the tube does so on each holder);
 * - `pause-tube`: every holder; `PAUSED` if any knows the tube.
 *
 * They run as barriers (docs/proxy.md, "Sessions") over the client's own connections, so the used
 * tube is the client's on each node. The commands beyond the first node's are the proxy's own
 * (overhead in merged stats).
 */
import type { RequestOf } from '../protocol/commands';
import { lineReply, okYaml, REPLY, type ReplyBytes, replyBytes, restyleStats } from '../protocol/replies';
import type { Reply } from '../protocol/reply-parser';
import { requestLine } from '../protocol/request-line';
import { type CountedCommand, TUBE_STATS_FIELDS } from '../protocol/stats';
import { readYamlMap } from '../protocol/yaml';
import { withClientId } from './id-rewrite';
import { nodeJobId } from './reserve/plan';
import type { ClientSession } from './session/session';

type PeekOp = 'peek-ready' | 'peek-delayed' | 'peek-buried';
type HolderRequest = RequestOf<PeekOp | 'kick' | 'stats-tube' | 'pause-tube'>;

/** Sends `req` to node `index` over the client's connection; counted as overhead unless `first`. */
async function ask(
  session: ClientSession,
  index: number,
  req: HolderRequest | RequestOf<'stats-job'>,
  counted: CountedCommand | null,
): Promise<Reply | null> {
  const conn = session.nodes.connTo(index);
  if (!conn) return null;
  if (req.op !== 'stats-tube' && req.op !== 'pause-tube' && req.op !== 'stats-job')
    session.nodes.syncUse(conn);
  if (counted) conn.link.countOverhead(counted);
  return conn.backend.request(requestLine(req));
}

/** `req` on every holder (owner first); the owner's copy counts as the client's command. */
function askAll(session: ClientSession, holders: number[], req: HolderRequest): Promise<(Reply | null)[]> {
  return Promise.all(holders.map((index, i) => ask(session, index, req, i === 0 ? null : req.op)));
}

interface Candidate {
  index: number;
  reply: Reply;
  stats: Record<string, string>;
}

function num(stats: Record<string, string>, key: string): number {
  return Number(stats[key] ?? 0);
}

const BY_PEEK: Record<Exclude<PeekOp, 'peek-buried'>, (a: Candidate, b: Candidate) => number> = {
  'peek-ready': (a, b) =>
    num(a.stats, 'pri') - num(b.stats, 'pri') ||
    num(b.stats, 'age') - num(a.stats, 'age') ||
    a.index - b.index,
  'peek-delayed': (a, b) =>
    num(a.stats, 'time-left') - num(b.stats, 'time-left') ||
    num(b.stats, 'age') - num(a.stats, 'age') ||
    a.index - b.index,
};

export async function peekAcross(
  session: ClientSession,
  holders: number[],
  req: RequestOf<PeekOp>,
): Promise<ReplyBytes> {
  const order = req.op === 'peek-buried' ? [...holders.slice(1), holders[0] as number] : holders;
  const replies = await askAll(session, order, req);
  if (replies.some((r) => r === null)) return REPLY.INTERNAL_ERROR;
  const found = order
    .map((index, i) => ({ index, reply: replies[i] as Reply }))
    .filter((c) => c.reply.word === 'FOUND');
  if (found.length === 0) return replyBytes(replies[0] as Reply);
  if (found.length === 1 || req.op === 'peek-buried') {
    const first = found[0] as { index: number; reply: Reply };
    return withClientId(first.reply, first.index) ?? REPLY.INTERNAL_ERROR;
  }
  const candidates: Candidate[] = [];
  for (const c of found) {
    const stats = await ask(session, c.index, { op: 'stats-job', id: nodeJobId(c.reply) }, 'stats-job');
    // A job gone meanwhile (reserved, deleted) is no candidate.
    if (stats?.word === 'OK' && stats.body) candidates.push({ ...c, stats: readYamlMap(stats.body) });
  }
  const best = candidates.sort(BY_PEEK[req.op as 'peek-ready' | 'peek-delayed'])[0] ?? found[0];
  return best ? (withClientId(best.reply, best.index) ?? REPLY.INTERNAL_ERROR) : REPLY.NOT_FOUND;
}

export async function kickAcross(
  session: ClientSession,
  holders: number[],
  req: RequestOf<'kick'>,
): Promise<ReplyBytes> {
  const order = [...holders.slice(1), holders[0] as number];
  const tube = session.tubes.used;
  const stats = await Promise.all(
    order.map((index) => ask(session, index, { op: 'stats-tube', tube }, 'stats-tube')),
  );
  const buried = stats.map((r) =>
    r?.word === 'OK' && r.body ? num(readYamlMap(r.body), 'current-jobs-buried') : 0,
  );
  const anyBuried = buried.some((b) => b > 0);
  let kicked = 0;
  let counted = false;
  for (const [i, index] of order.entries()) {
    const left = req.bound - kicked;
    if (left <= 0) break;
    if (anyBuried && (buried[i] ?? 0) === 0) continue;
    const bound = anyBuried ? Math.min(left, buried[i] ?? 0) : left;
    const reply = await ask(session, index, { op: 'kick', bound }, counted ? 'kick' : null);
    counted = true;
    const match = reply ? /^KICKED (\d+)$/.exec(reply.line) : null;
    if (match) kicked += Number(match[1]);
  }
  if (!counted) session.ctx.counters.countLocal('kick');
  return lineReply(`KICKED ${kicked}`);
}

/** Keys summed across holders; the others are the owner's, the connection counts the largest. */
const SUMMED = new Set([
  'current-jobs-urgent',
  'current-jobs-ready',
  'current-jobs-reserved',
  'current-jobs-delayed',
  'current-jobs-buried',
  'total-jobs',
  'cmd-delete',
  'cmd-pause-tube',
]);
const LARGEST = new Set(['current-using', 'current-watching', 'current-waiting', 'pause', 'pause-time-left']);

export async function statsTubeAcross(
  session: ClientSession,
  holders: number[],
  req: RequestOf<'stats-tube'>,
): Promise<ReplyBytes> {
  const replies = await askAll(session, holders, req);
  if (replies.some((r) => r === null)) return REPLY.INTERNAL_ERROR;
  const found = (replies as Reply[]).filter((r) => r.word === 'OK' && r.body);
  const base = found[0];
  if (!base?.body) return replyBytes(replies[0] as Reply);
  const maps = found.map((r) => readYamlMap(r.body as Buffer));
  const text = base.body.toString('latin1').replace(/^([a-z-]+): (\d+)$/gm, (line, key: string) => {
    if (SUMMED.has(key)) return `${key}: ${maps.reduce((sum, m) => sum + num(m, key), 0)}`;
    if (LARGEST.has(key)) return `${key}: ${Math.max(...maps.map((m) => num(m, key)))}`;
    return line;
  });
  return okYaml(restyleStats(text, TUBE_STATS_FIELDS, session.ctx.dialect));
}

export async function pauseTubeAcross(
  session: ClientSession,
  holders: number[],
  req: RequestOf<'pause-tube'>,
): Promise<ReplyBytes> {
  const replies = await askAll(session, holders, req);
  if (replies.some((r) => r?.word === 'PAUSED')) return REPLY.PAUSED;
  const first = replies.find((r) => r !== null);
  return first ? replyBytes(first) : REPLY.INTERNAL_ERROR;
}
