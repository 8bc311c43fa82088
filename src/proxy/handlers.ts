/**
 * One handler per command, in a table (no per-command closures). Each takes the typed Request the
 * protocol parser produced and returns the reply bytes, a promise of them, or a Forward (sent on the
 * client's own node connection). `dispatchTarget` tells the session's ordering rule where a request
 * goes: a node index (pipelined per node), 'local' (answered by the proxy from session state) or
 * 'barrier' (reserves that need several nodes, fan-outs, quit).
 *
 * Routing: put → owner of the used tube; peek-ready/-delayed/-buried and kick → holders of the
 * used tube, stats-tube and pause-tube → holders of the named tube (the owner alone, pipelined, as
 * long as no other node holds jobs of it; else merged by holder-ops.ts as a barrier); id commands → the node encoded in the id, over the
 * client's own connection so reservation ownership holds; use, watch, ignore, list-tube-used and
 * list-tubes-watched → answered locally (watch/ignore also update the node connection).
 */
import type { Request, RequestOf } from '../protocol/commands';
import type { Dialect } from '../protocol/dialect';
import { lineReply, okYaml, REPLY, type ReplyBytes, yamlList } from '../protocol/replies';
import type { Reply } from '../protocol/reply-parser';
import { putIntoLine, putLine, requestLine } from '../protocol/request-line';
import type { CountedCommand } from '../protocol/stats';
import { handleListTubes, handleStats } from './fanout';
import { kickAcross, pauseTubeAcross, peekAcross, statsTubeAcross } from './holder-ops';
import { statsJobWithClientId, statsTubeAs, withClientId } from './id-rewrite';
import { decodeJobId } from './job-id';
import { Forward } from './node/forward';
import { type LanePut, laneTarget, MAX_NODE_LINE, PutLane } from './node/put-lane';
import { isReadOnly, untilServing } from './read-retry';
import { handleReserve, reserveTarget } from './reserve/reserve';
import type { NodeConn } from './session/node-sync';
import type { ClientSession } from './session/session';
import type { ClientRequest, HandlerResult, LocalError, Target } from './types';

type ClientOp = ClientRequest['op'];
type Handler<K extends ClientOp> = (session: ClientSession, req: RequestOf<K>) => HandlerResult;
type HandlerTable = { [K in ClientOp]: Handler<K> };

/** Requests that name a job by id. */
type IdRequest = Extract<ClientRequest, { id: number }>;
type IdOp = IdRequest['op'];

/** Stats key beanstalkd bumps for each id command (reserve-job and kick-job have none). */
const ID_STATS_KEY: Partial<Record<IdOp, CountedCommand>> = {
  peek: 'peek',
  delete: 'delete',
  release: 'release',
  bury: 'bury',
  touch: 'touch',
  'stats-job': 'stats-job',
};

const ID_OPS = new Set<ClientOp>([
  'peek',
  'reserve-job',
  'delete',
  'release',
  'bury',
  'kick-job',
  'touch',
  'stats-job',
]);
/** Commands only a job's holder may run: a holder whose reservation was lost gets NOT_FOUND. */
const HOLDER_OPS = new Set<ClientOp>(['delete', 'release', 'bury', 'touch']);
const USED_TUBE_OPS = new Set<ClientOp>(['put', 'peek-ready', 'peek-delayed', 'peek-buried', 'kick']);
const BARRIER_OPS = new Set<ClientOp>(['stats', 'list-tubes', 'quit']);

const EXPECTED_CRLF: LocalError = { word: 'EXPECTED_CRLF', count: 'put' };

export function localErrorOf(req: Request): LocalError | null {
  if (req.op === 'error') return req;
  if (req.op === 'put' && !req.bodyOk) return EXPECTED_CRLF;
  return null;
}

/** The node an id request goes to, or null when no node of this cluster issued the id. */
function idTarget(session: ClientSession, req: IdRequest): { index: number; nodeId: number } | null {
  const decoded = decodeJobId(req.id);
  if (!decoded || !session.ctx.pool.get(decoded.nodeIndex)) return null;
  return { index: decoded.nodeIndex, nodeId: decoded.nodeId };
}

/**
 * An id request goes to its node, pipelined — but one naming a job whose reservation this client
 * lost is a barrier: it is decided (NOT_FOUND, or sent) once every earlier reply is in, so a
 * `reserve-job` pipelined before it that takes the job again counts.
 */
function idRequestTarget(session: ClientSession, req: IdRequest): Target {
  const target = idTarget(session, req);
  if (!target) return 'local';
  return lostHolder(session, req, target) ? 'barrier' : target.index;
}

function lostHolder(
  session: ClientSession,
  req: IdRequest,
  target: { index: number; nodeId: number },
): boolean {
  return HOLDER_OPS.has(req.op) && session.nodes.reservationLost(target.index, target.nodeId);
}

/** The owner of `tube` when no other node holds jobs of it, else 'barrier' (holder-ops.ts). */
function tubeTarget(session: ClientSession, tube: string): number | 'barrier' {
  const holders = session.tubes.holdersOf(tube);
  return holders.length === 1 ? (holders[0] as number) : 'barrier';
}

export function dispatchTarget(session: ClientSession, req: ClientRequest): Target {
  const op = req.op;
  if (op === 'put' && session.ctx.sharePuts) return laneTarget(session.tubes.ownerOf(session.tubes.used));
  if (op === 'put') return session.tubes.ownerOf(session.tubes.used);
  if (USED_TUBE_OPS.has(op)) return tubeTarget(session, session.tubes.used);
  if (ID_OPS.has(op)) return idRequestTarget(session, req as IdRequest);
  if (op === 'stats-tube' || op === 'pause-tube') return tubeTarget(session, req.tube);
  if (op === 'reserve' || op === 'reserve-with-timeout') return reserveTarget(session);
  if (BARRIER_OPS.has(op)) return 'barrier';
  return 'local';
}

/** A request forwarded as is: the reply with its id rewritten, reservations tracked. */
class RequestForward extends Forward {
  /** The read-only retry was made (once at most). */
  private retried = false;

  constructor(
    conn: NodeConn,
    private readonly req: ClientRequest,
    /** The node-local id of an id request, else 0. */
    private readonly nodeId: number,
    private readonly dialect: Dialect,
    /** Set for a read-only request: sent again once its shard serves again (read-retry.ts). */
    private readonly retryFor: ClientSession | null = null,
    head = requestLine(req, nodeId),
  ) {
    super(conn, head, req.op === 'put' ? req.body : undefined, conn.backend.replyTimeoutMs);
  }

  /** A read-only request whose connection failed goes once more, once the shard serves again. */
  override resolve(reply: Reply | null): void {
    const session = this.retryFor;
    if (reply !== null || !session || this.retried) {
      super.resolve(reply);
      return;
    }
    this.retried = true;
    void reconnected(session, this.conn.index, this.req).then((conn) => {
      if (conn) conn.backend.submit(this);
      else super.resolve(null);
    });
  }

  finish(reply: Reply | null): ReplyBytes {
    if (!reply) return REPLY.INTERNAL_ERROR;
    const index = this.conn.index;
    if (this.nodeId > 0) this.conn.trackReply(this.req.op, this.nodeId, reply.line);
    if (this.req.op === 'stats-tube') return statsTubeAs(reply, this.dialect);
    const parts =
      this.req.op === 'stats-job'
        ? statsJobWithClientId(reply, index, this.dialect)
        : withClientId(reply, index);
    return parts ?? REPLY.INTERNAL_ERROR;
  }
}

function resolveNull(forward: Forward): void {
  forward.resolve(null);
}

/** A put over its node's shared put lane (node/put-lane.ts) instead of the client's connection. */
class LanePutForward extends RequestForward implements LanePut {
  constructor(
    conn: NodeConn,
    private readonly put: RequestOf<'put'>,
    dialect: Dialect,
    private readonly tube: string,
  ) {
    // The line is made once the lane knows what its node takes (setLine).
    super(conn, put, 0, dialect, null, '');
  }

  protected override transmit(): void {
    if (!PutLane.of(this.conn.link).put(this.tube, this)) process.nextTick(resolveNull, this);
  }

  setLine(tube: string | null): boolean {
    const { pri, delayMs, ttrMs, body } = this.put;
    const delay = delayMs / 1000;
    const ttr = ttrMs / 1000;
    const bytes = body.length - 2;
    if (tube !== null) {
      const line = putIntoLine(tube, pri, delay, ttr, bytes);
      if (line.length <= MAX_NODE_LINE) {
        this.head = line;
        return true;
      }
    }
    this.head = putLine(pri, delay, ttr, bytes);
    return false;
  }
}

function forwardTo(session: ClientSession, index: number, req: ClientRequest, nodeId = 0): HandlerResult {
  const conn = session.nodes.connTo(index);
  const read = isReadOnly(req);
  if (!conn) return read ? readWhenServing(session, index, req, nodeId) : REPLY.INTERNAL_ERROR;
  if (USED_TUBE_OPS.has(req.op)) session.nodes.syncUse(conn);
  return new RequestForward(conn, req, nodeId, session.ctx.dialect, read ? session : null);
}

/** The client's connection to shard `index` once it serves again (read-retry.ts), or null. */
async function reconnected(
  session: ClientSession,
  index: number,
  req: ClientRequest,
): Promise<NodeConn | null> {
  const serving = await untilServing(session.ctx.pool.get(index));
  const conn = serving && !session.closed ? session.nodes.connTo(index) : null;
  if (conn && USED_TUBE_OPS.has(req.op)) session.nodes.syncUse(conn);
  return conn;
}

/** A read-only request that found its shard down: run once it serves again. */
async function readWhenServing(
  session: ClientSession,
  index: number,
  req: ClientRequest,
  nodeId: number,
): Promise<ReplyBytes> {
  const conn = await reconnected(session, index, req);
  if (!conn) return REPLY.INTERNAL_ERROR;
  const forward = new RequestForward(conn, req, nodeId, session.ctx.dialect);
  return new Promise((resolve) => forward.send((reply) => resolve(forward.finish(reply))));
}

function handlePut(session: ClientSession, req: RequestOf<'put'>): HandlerResult {
  session.markProducer();
  if (session.ctx.counters.draining) {
    session.ctx.counters.countLocal('put');
    return REPLY.DRAINING;
  }
  const index = session.tubes.ownerOf(session.tubes.used);
  if (!session.ctx.sharePuts) return forwardTo(session, index, req);
  // The client's own connection still uses its tube (stats-tube counts it); the put takes the lane.
  const conn = session.nodes.connTo(index);
  if (!conn) return REPLY.INTERNAL_ERROR;
  session.nodes.syncUse(conn);
  return new LanePutForward(conn, req, session.ctx.dialect, session.tubes.used);
}

function handlePeek(
  session: ClientSession,
  req: RequestOf<'peek-ready' | 'peek-delayed' | 'peek-buried'>,
): HandlerResult {
  const holders = session.tubes.holdersOf(session.tubes.used);
  if (holders.length > 1) return peekAcross(session, holders, req);
  return forwardTo(session, holders[0] as number, req);
}

function handleKick(session: ClientSession, req: RequestOf<'kick'>): HandlerResult {
  const holders = session.tubes.holdersOf(session.tubes.used);
  if (holders.length > 1) return kickAcross(session, holders, req);
  return forwardTo(session, holders[0] as number, req);
}

function handleStatsTube(session: ClientSession, req: RequestOf<'stats-tube'>): HandlerResult {
  const holders = session.tubes.holdersOf(req.tube);
  if (holders.length > 1) return statsTubeAcross(session, holders, req);
  return forwardTo(session, holders[0] as number, req);
}

function handlePauseTube(session: ClientSession, req: RequestOf<'pause-tube'>): HandlerResult {
  const holders = session.tubes.holdersOf(req.tube);
  if (holders.length > 1) return pauseTubeAcross(session, holders, req);
  return forwardTo(session, holders[0] as number, req);
}

function handleIdRequest(session: ClientSession, req: IdRequest): HandlerResult {
  if (req.op === 'reserve-job') session.markWorker();
  const target = idTarget(session, req);
  // A job whose reservation ended with a node connection (failover, restart) is not the client's
  // any more: NOT_FOUND, without touching it, until the client reserves it again (docs/failover.md).
  if (!target || lostHolder(session, req, target)) {
    const key = ID_STATS_KEY[req.op];
    if (key) session.ctx.counters.countLocal(key);
    return REPLY.NOT_FOUND;
  }
  return forwardTo(session, target.index, req, target.nodeId);
}

// use, watch and ignore: the reply leaves once the nodes acknowledged the state change
// (ClientSession.changed).

function handleUse(session: ClientSession, req: RequestOf<'use'>): ReplyBytes {
  session.ctx.counters.countLocal('use');
  session.use(req.tube);
  return lineReply(`USING ${req.tube}`);
}

function handleWatch(session: ClientSession, req: RequestOf<'watch'>): ReplyBytes {
  session.ctx.counters.countLocal('watch');
  session.watch(req.tube);
  return lineReply(`WATCHING ${session.tubes.watched.length}`);
}

function handleIgnore(session: ClientSession, req: RequestOf<'ignore'>): ReplyBytes {
  session.ctx.counters.countLocal('ignore');
  if (session.tubes.isWatching(req.tube) && session.tubes.watched.length === 1) return REPLY.NOT_IGNORED;
  session.ignore(req.tube);
  return lineReply(`WATCHING ${session.tubes.watched.length}`);
}

function handleListTubeUsed(session: ClientSession): ReplyBytes {
  session.ctx.counters.countLocal('list-tube-used');
  return lineReply(`USING ${session.tubes.used}`);
}

function handleListTubesWatched(session: ClientSession): ReplyBytes {
  session.ctx.counters.countLocal('list-tubes-watched');
  return okYaml(yamlList(session.tubes.watched));
}

const NO_REPLY: ReplyBytes = [];

const HANDLERS: HandlerTable = {
  put: handlePut,
  peek: handleIdRequest,
  'peek-ready': handlePeek,
  'peek-delayed': handlePeek,
  'peek-buried': handlePeek,
  'reserve-with-timeout': handleReserve,
  'reserve-job': handleIdRequest,
  reserve: handleReserve,
  delete: handleIdRequest,
  release: handleIdRequest,
  bury: handleIdRequest,
  kick: handleKick,
  'kick-job': handleIdRequest,
  touch: handleIdRequest,
  'stats-job': handleIdRequest,
  'stats-tube': handleStatsTube,
  stats: handleStats,
  use: handleUse,
  watch: handleWatch,
  ignore: handleIgnore,
  'list-tubes-watched': handleListTubesWatched,
  'list-tube-used': handleListTubeUsed,
  'list-tubes': handleListTubes,
  quit: () => NO_REPLY,
  'pause-tube': handlePauseTube,
};

export function runRequest(session: ClientSession, req: ClientRequest): HandlerResult {
  const handler = HANDLERS[req.op] as (session: ClientSession, req: ClientRequest) => HandlerResult;
  return handler(session, req);
}
