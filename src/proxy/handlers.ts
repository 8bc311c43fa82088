/**
 * One handler per command, in a table (no per-command closures). Each returns the reply parts or
 * a promise of them. `dispatchTarget` tells the session's ordering rule where a command goes:
 * a node index (pipelined per node), 'local' (answered by the proxy from session state) or
 * 'barrier' (reserves that need several nodes, fan-outs, quit).
 *
 * Routing: put, peek-ready/-delayed/-buried and kick → owner of the used tube; stats-tube and
 * pause-tube → owner of the named tube; id commands → the node encoded in the id, over the
 * client's own connection so reservation ownership holds; use, watch, ignore, list-tube-used and
 * list-tubes-watched → answered locally (watch/ignore also update the node connection).
 */
import type { Command, Verb } from './commands';
import { ownerIndex, syncUse } from './conn-sync';
import { handleListTubes, handleStats } from './fanout';
import { Forward } from './forward';
import { decodeJobId } from './job-id';
import {
  lineReply,
  Reply,
  type ReplyParts,
  statsJobWithClientId,
  withClientId,
  yamlList,
  yamlReply,
} from './replies';
import type { NodeReply } from './reply-reader';
import { handleReserve, reserveTarget } from './reserve';
import type { ClientSession, NodeConn } from './session';

export type Target = number | 'local' | 'barrier';
type Handler = (session: ClientSession, command: Command) => HandlerResult;

/** Stats key beanstalkd bumps for each id command (reserve-job and kick-job have none). */
const ID_STATS_KEY: Partial<Record<Verb, string>> = {
  peek: 'cmd-peek',
  delete: 'cmd-delete',
  release: 'cmd-release',
  bury: 'cmd-bury',
  touch: 'cmd-touch',
  'stats-job': 'cmd-stats-job',
};

const ID_VERBS = new Set<Verb>([
  'peek',
  'reserve-job',
  'delete',
  'release',
  'bury',
  'kick-job',
  'touch',
  'stats-job',
]);
const USED_TUBE_VERBS = new Set<Verb>(['put', 'peek-ready', 'peek-delayed', 'peek-buried', 'kick']);
const BARRIER_VERBS = new Set<Verb>(['stats', 'list-tubes', 'quit']);

/** The node an id command goes to, or -1 when no node of this cluster issued the id. */
function idTarget(session: ClientSession, command: Command): { index: number; nodeId: number } | null {
  const decoded = decodeJobId(command.id);
  if (!decoded || !session.ctx.pool.get(decoded.nodeIndex)) return null;
  return { index: decoded.nodeIndex, nodeId: decoded.nodeId };
}

export function dispatchTarget(session: ClientSession, command: Command): Target {
  const verb = command.verb;
  if (USED_TUBE_VERBS.has(verb)) return ownerIndex(session, session.used);
  if (ID_VERBS.has(verb)) return idTarget(session, command)?.index ?? 'local';
  if (verb === 'stats-tube' || verb === 'pause-tube') return ownerIndex(session, command.tube);
  if (verb === 'reserve' || verb === 'reserve-with-timeout') return reserveTarget(session);
  if (BARRIER_VERBS.has(verb)) return 'barrier';
  return 'local';
}

/** A command forwarded as is: the reply with its id rewritten, reservations tracked. */
class CommandForward extends Forward {
  constructor(
    conn: NodeConn,
    index: number,
    head: string,
    body: Buffer | undefined,
    private readonly verb: Verb,
    /** The node-local id of an id command, else 0. */
    private readonly nodeId: number,
  ) {
    super(conn, index, head, body, conn.backend.replyTimeoutMs);
  }

  finish(reply: NodeReply | null): ReplyParts {
    if (!reply) return Reply.INTERNAL_ERROR;
    if (this.nodeId > 0) trackReservation(this.conn.reserved, this.verb, this.nodeId, reply.line);
    const parts =
      this.verb === 'stats-job' ? statsJobWithClientId(reply, this.index) : withClientId(reply, this.index);
    return parts ?? Reply.INTERNAL_ERROR;
  }
}

export type HandlerResult = ReplyParts | Promise<ReplyParts> | Forward;

function forwardTo(session: ClientSession, index: number, head: string, command: Command): HandlerResult {
  const conn = session.connTo(index);
  if (!conn) return Reply.INTERNAL_ERROR;
  if (USED_TUBE_VERBS.has(command.verb)) syncUse(session, conn, index);
  return new CommandForward(conn, index, head, command.body, command.verb, 0);
}

function handlePut(session: ClientSession, command: Command): HandlerResult {
  session.markProducer();
  if (session.ctx.counters.draining) {
    session.ctx.counters.countLocal('cmd-put');
    return Reply.DRAINING;
  }
  const [pri, delay, ttr, bytes] = command.nums;
  const index = ownerIndex(session, session.used);
  return forwardTo(session, index, `put ${pri} ${delay} ${ttr} ${bytes}`, command);
}

function handleUsedTubeCommand(session: ClientSession, command: Command): HandlerResult {
  const head = command.verb === 'kick' ? `kick ${command.nums[0]}` : command.verb;
  return forwardTo(session, ownerIndex(session, session.used), head, command);
}

function handleTubeCommand(session: ClientSession, command: Command): HandlerResult {
  const head =
    command.verb === 'pause-tube'
      ? `pause-tube ${command.tube} ${command.nums[0]}`
      : `stats-tube ${command.tube}`;
  return forwardTo(session, ownerIndex(session, command.tube), head, command);
}

function idHead(command: Command, nodeId: number): string {
  const args = command.nums.length ? ` ${command.nums.join(' ')}` : '';
  return `${command.verb} ${nodeId}${args}`;
}

/** Keeps NodeConn.reserved in step with what the reply says about the job. */
function trackReservation(reserved: Set<number>, verb: Verb, nodeId: number, line: string): void {
  if (verb === 'reserve-job' && line.startsWith('RESERVED ')) reserved.add(nodeId);
  else if (verb === 'delete' || verb === 'release' || verb === 'bury') {
    if (line !== 'NOT_FOUND') reserved.delete(nodeId);
  } else if (verb === 'touch' && line === 'NOT_FOUND') reserved.delete(nodeId);
}

function handleIdCommand(session: ClientSession, command: Command): HandlerResult {
  if (command.verb === 'reserve-job') session.markWorker();
  const target = idTarget(session, command);
  if (!target) {
    const key = ID_STATS_KEY[command.verb];
    if (key) session.ctx.counters.countLocal(key);
    return Reply.NOT_FOUND;
  }
  const conn = session.connTo(target.index);
  if (!conn) return Reply.INTERNAL_ERROR;
  return new CommandForward(
    conn,
    target.index,
    idHead(command, target.nodeId),
    undefined,
    command.verb,
    target.nodeId,
  );
}

// use, watch and ignore: the reply leaves once the nodes acknowledged the state change
// (ClientSession.changed).

function handleUse(session: ClientSession, command: Command): ReplyParts {
  session.ctx.counters.countLocal('cmd-use');
  session.use(command.tube);
  return lineReply(`USING ${command.tube}`);
}

function handleWatch(session: ClientSession, command: Command): ReplyParts {
  session.ctx.counters.countLocal('cmd-watch');
  session.watch(command.tube);
  return lineReply(`WATCHING ${session.watched.length}`);
}

function handleIgnore(session: ClientSession, command: Command): ReplyParts {
  session.ctx.counters.countLocal('cmd-ignore');
  if (session.isWatching(command.tube) && session.watched.length === 1) return Reply.NOT_IGNORED;
  session.ignore(command.tube);
  return lineReply(`WATCHING ${session.watched.length}`);
}

function handleListTubeUsed(session: ClientSession): ReplyParts {
  session.ctx.counters.countLocal('cmd-list-tube-used');
  return lineReply(`USING ${session.used}`);
}

function handleListTubesWatched(session: ClientSession): ReplyParts {
  session.ctx.counters.countLocal('cmd-list-tubes-watched');
  return yamlReply(yamlList(session.watched));
}

const HANDLERS: Record<Verb, Handler> = {
  put: handlePut,
  peek: handleIdCommand,
  'peek-ready': handleUsedTubeCommand,
  'peek-delayed': handleUsedTubeCommand,
  'peek-buried': handleUsedTubeCommand,
  'reserve-with-timeout': handleReserve,
  'reserve-job': handleIdCommand,
  reserve: handleReserve,
  delete: handleIdCommand,
  release: handleIdCommand,
  bury: handleIdCommand,
  kick: handleUsedTubeCommand,
  'kick-job': handleIdCommand,
  touch: handleIdCommand,
  'stats-job': handleIdCommand,
  'stats-tube': handleTubeCommand,
  stats: handleStats,
  use: handleUse,
  watch: handleWatch,
  ignore: handleIgnore,
  'list-tubes-watched': handleListTubesWatched,
  'list-tube-used': handleListTubeUsed,
  'list-tubes': handleListTubes,
  quit: () => [],
  'pause-tube': handleTubeCommand,
};

export function runCommand(session: ClientSession, command: Command): HandlerResult {
  return HANDLERS[command.verb](session, command);
}
