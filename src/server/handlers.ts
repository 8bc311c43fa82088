/**
 * One handler per request kind (beanstalkd's dispatch_cmd, split into a table). A handler counts
 * the command as beanstalkd does, calls the engine and returns the reply — or null when there is
 * no reply now (a blocked reserve, quit).
 */
import type { Engine } from '../engine/engine';
import type { Job } from '../engine/job';
import type { PutResult } from '../engine/job-commands';
import type { Session, WaitOutcome } from '../engine/session';
import { type ReplicateRequest, type Request, type RequestOf, ReserveWaitFlag } from '../protocol/commands';
import type { Dialect } from '../protocol/dialect';
import {
  lineReply,
  numbersLine,
  okYaml,
  REPLY,
  type ReplyBytes,
  renderJobStats,
  renderTubeStats,
  yamlList,
} from '../protocol/replies';
import { HELLO_FEATURES, HELLO_PREFIX } from '../protocol/reply-parser';
import type { CommandCounts } from '../protocol/stats';
import { roleYaml, type ShardControl, tokenMatches } from './shard';
import { statsJob, statsTube } from './stats-view';

export type Reply = ReplyBytes;

/** What a handler may use besides the engine. */
/** Why a put was not inserted (the label of stalkd_puts_refused_total). */
export type PutRefusal = 'draining' | 'binlog' | 'memory' | 'job_too_big' | 'expected_crlf';
export const PUT_REFUSALS: readonly PutRefusal[] = [
  'draining',
  'binlog',
  'memory',
  'job_too_big',
  'expected_crlf',
];

export interface HandlerContext {
  readonly engine: Engine;
  readonly session: Session;
  /** The `cmd-*` counters of `stats`. */
  readonly cmd: CommandCounts;
  /** Statistics the engine does not know (pid, rusage, binlog, …). */
  renderServerStats(): string;
  jobFile(id: number): number;
  /** The session now blocks in reserve; `extra`: what its RESERVED line will carry. */
  beginWait(extra: ReservedExtra): void;
  quit(): void;
  /** stalkd's own version, for x-hello. */
  readonly stalkdVersion: string;
  /** A put was not inserted, for this reason (metrics). */
  refusePut(reason: PutRefusal): void;
  /** A step of a job move was refused, for this reason (x-import not inserted, x-move-out not logged). */
  refuseMove(reason: PutRefusal): void;
  /** The beanstalkd release reproduced (stats strings quoted or not). */
  readonly dialect: Dialect;
  /** Replication: the member's role and answers (STANDALONE without --shard-peers). */
  readonly shard: ShardControl;
  /** The connection sent the right `x-auth` (or no --shard-token is set). */
  readonly authorized: boolean;
  authorize(): void;
  /** The reply comes later (x-promote); requests after it wait for it. */
  defer(reply: Promise<string>): void;
  /** x-replicate: the socket leaves this connection for the member once the batch is out. */
  handOver(req: ReplicateRequest): void;
  /** The reply names job `id`: it leaves only once the job's put is confirmed (replication). */
  jobShown(id: number): void;
  /** The reply leaves only once journal record `seq` is durable (a record another connection wrote). */
  waitFor(seq: number): void;
}

/** Commands that change a job or a tube: a standby answers NOT_PRIMARY (docs/replication.md). */
const CHANGING: ReadonlySet<Request['op']> = new Set<Request['op']>([
  'put',
  'x-put',
  'reserve',
  'reserve-with-timeout',
  'x-reserve-wait',
  'reserve-job',
  'delete',
  'release',
  'bury',
  'touch',
  'kick',
  'kick-job',
  'pause-tube',
  'x-unreserve',
  'x-move-out',
  'x-move-done',
  'x-import',
]);

const REFUSAL_OF = { DRAINING: 'draining', EXPECTED_CRLF: 'expected_crlf' } as const;

type Handler<R extends Request> = (ctx: HandlerContext, req: R) => Reply | null;
type HandlerTable = { [K in Request['op']]: Handler<RequestOf<K>> };

const WORD = {
  INSERTED: Buffer.from('INSERTED', 'latin1'),
  RESERVED: Buffer.from('RESERVED', 'latin1'),
  FOUND: Buffer.from('FOUND', 'latin1'),
} as const;

/**
 * What a RESERVED line carries after `<id> <bytes>`: nothing (clients); for x-reserve-wait the
 * job's priority, and with ReserveWaitFlag.WithCreated also its creation time in microseconds
 * since the epoch (the proxy's tie-break between nodes).
 */
export const ReservedExtra = { None: 0, Pri: 1, PriAndCreated: 2 } as const;
export type ReservedExtra = (typeof ReservedExtra)[keyof typeof ReservedExtra];

export function jobReply(word: 'RESERVED' | 'FOUND', job: Job, extra: ReservedExtra = ReservedExtra.None) {
  const pri = extra === ReservedExtra.None ? -1 : job.pri;
  const createdAtUs = extra === ReservedExtra.PriAndCreated ? Math.floor(job.createdAtMs * 1000) : -1;
  const head = numbersLine(WORD[word], job.id, job.bodyBytes, pri, createdAtUs);
  return [head, job.bodyWithCrlf];
}

export function outcomeReply(outcome: WaitOutcome, extra: ReservedExtra): Reply {
  if (outcome.type === 'reserved') return jobReply('RESERVED', outcome.job, extra);
  return REPLY[outcome.type];
}

function found(ctx: HandlerContext, job: Job | undefined): Reply {
  if (!job) return REPLY.NOT_FOUND;
  ctx.jobShown(job.id);
  return jobReply('FOUND', job);
}

function putReply(ctx: HandlerContext, result: PutResult): Reply {
  if (result.word === 'INSERTED') return numbersLine(WORD.INSERTED, result.id);
  ctx.refusePut(result.word === 'OUT_OF_MEMORY' ? result.reason : REFUSAL_OF[result.word]);
  return REPLY[result.word];
}

/** Members and operators must `x-auth` first when a --shard-token is set. */
function shardOnly(ctx: HandlerContext, run: () => Reply | null): Reply | null {
  return ctx.authorized ? run() : REPLY.UNAUTHORIZED;
}

function reserveCommon(
  ctx: HandlerContext,
  timeoutMs: number | null,
  deadlineOnly: boolean,
  extra: ReservedExtra,
): Reply | null {
  const outcome = ctx.engine.reserve(ctx.session, timeoutMs, deadlineOnly);
  if (outcome?.type === 'reserved') ctx.jobShown(outcome.job.id);
  if (outcome) return outcomeReply(outcome, extra);
  ctx.beginWait(extra);
  return null;
}

/**
 * Moving jobs between nodes (engine/moves.ts, docs/migration.md). A reply about a move or an import
 * another connection made waits until the log holds it durably, as the first reply would have.
 */
const MOVE_HANDLERS: Pick<HandlerTable, 'x-move-out' | 'x-move-done' | 'x-list-moving' | 'x-import'> = {
  'x-move-out'(ctx, req) {
    const { engine } = ctx;
    const move = engine.moveOut(req.id, req.dest);
    if (move === 'BUSY') return lineReply('BUSY');
    if (move === 'OUT_OF_MEMORY') ctx.refuseMove('binlog');
    if (typeof move === 'string') return REPLY[move];
    ctx.jobShown(req.id);
    ctx.waitFor(engine.lastJournalSeq);
    const r = move.record;
    const delayMs = r.state === 'delayed' ? Math.max(0, r.deadlineAtMs - engine.clock.nowMs()) : 0;
    return lineReply(`MOVING ${move.dest} ${r.tube} ${r.state} ${r.pri} ${delayMs} ${r.ttrMs}`);
  },
  'x-move-done'(ctx, req) {
    return REPLY[ctx.engine.moveDone(req.id)];
  },
  'x-list-moving'(ctx) {
    return okYaml(yamlList(ctx.engine.moves.ids().map(String)));
  },
  'x-import'(ctx, req) {
    const { engine, session } = ctx;
    engine.markProducer(session);
    const origin = { node: req.node, originId: req.originId };
    const result = engine.importJob(session, origin, req, req.body, req.bodyOk);
    if (result.word === 'INSERTED') return numbersLine(WORD.INSERTED, result.id);
    if (result.word === 'IMPORTED') {
      ctx.waitFor(engine.lastJournalSeq);
      return lineReply(`IMPORTED ${result.id}`);
    }
    ctx.refuseMove(result.word === 'OUT_OF_MEMORY' ? result.reason : REFUSAL_OF[result.word]);
    return REPLY[result.word];
  },
};

const HANDLERS: HandlerTable = {
  put(ctx, req) {
    const { engine, session } = ctx;
    ctx.cmd.put++;
    engine.markProducer(session);
    return putReply(ctx, engine.put(session, req.pri, req.delayMs, req.ttrMs, req.body, req.bodyOk));
  },
  'x-put'(ctx, req) {
    const { engine, session } = ctx;
    ctx.cmd.put++;
    engine.markProducer(session);
    return putReply(
      ctx,
      engine.putInto(session, req.tube, req.pri, req.delayMs, req.ttrMs, req.body, req.bodyOk),
    );
  },
  error(ctx, req) {
    if (req.count) ctx.cmd[req.count]++;
    if (req.word === 'JOB_TOO_BIG') ctx.refusePut('job_too_big');
    return REPLY[req.word];
  },
  quit(ctx) {
    ctx.quit();
    return null;
  },
  use(ctx, req) {
    ctx.cmd.use++;
    ctx.engine.use(ctx.session, req.tube);
    return lineReply(`USING ${req.tube}`);
  },
  watch(ctx, req) {
    ctx.cmd.watch++;
    return lineReply(`WATCHING ${ctx.engine.watch(ctx.session, req.tube)}`);
  },
  ignore(ctx, req) {
    ctx.cmd.ignore++;
    const n = ctx.engine.ignore(ctx.session, req.tube);
    return n === 'NOT_IGNORED' ? REPLY.NOT_IGNORED : lineReply(`WATCHING ${n}`);
  },
  'stats-tube'(ctx, req) {
    ctx.cmd['stats-tube']++;
    const stats = statsTube(ctx.engine, req.tube);
    return stats ? okYaml(renderTubeStats(stats, ctx.dialect)) : REPLY.NOT_FOUND;
  },
  'pause-tube'(ctx, req) {
    ctx.cmd['pause-tube']++;
    return REPLY[ctx.engine.pauseTube(req.tube, req.delayMs)];
  },
  reserve(ctx) {
    ctx.cmd.reserve++;
    return reserveCommon(ctx, null, false, ReservedExtra.None);
  },
  'reserve-with-timeout'(ctx, req) {
    ctx.cmd['reserve-with-timeout']++;
    return reserveCommon(ctx, req.timeoutMs, false, ReservedExtra.None);
  },
  'x-reserve-wait'(ctx, req) {
    if (req.flags & ReserveWaitFlag.CountReserve) ctx.cmd.reserve++;
    if (req.flags & ReserveWaitFlag.CountReserveWithTimeout) ctx.cmd['reserve-with-timeout']++;
    const deadlineOnly = (req.flags & ReserveWaitFlag.DeadlineOnly) !== 0;
    const extra = req.flags & ReserveWaitFlag.WithCreated ? ReservedExtra.PriAndCreated : ReservedExtra.Pri;
    return reserveCommon(ctx, req.timeoutMs, deadlineOnly, extra);
  },
  'reserve-job'(ctx, req) {
    const job = ctx.engine.reserveJob(ctx.session, req.id);
    if (job === 'NOT_FOUND') return REPLY.NOT_FOUND;
    ctx.jobShown(job.id);
    return jobReply('RESERVED', job);
  },
  delete(ctx, req) {
    ctx.cmd.delete++;
    return REPLY[ctx.engine.delete(ctx.session, req.id)];
  },
  release(ctx, req) {
    ctx.cmd.release++;
    return REPLY[ctx.engine.release(ctx.session, req.id, req.pri, req.delayMs)];
  },
  bury(ctx, req) {
    ctx.cmd.bury++;
    return REPLY[ctx.engine.bury(ctx.session, req.id, req.pri)];
  },
  touch(ctx, req) {
    ctx.cmd.touch++;
    return REPLY[ctx.engine.touch(ctx.session, req.id)];
  },
  peek(ctx, req) {
    ctx.cmd.peek++;
    return found(ctx, ctx.engine.peek(req.id));
  },
  'kick-job'(ctx, req) {
    return REPLY[ctx.engine.kickJob(req.id)];
  },
  'stats-job'(ctx, req) {
    ctx.cmd['stats-job']++;
    const stats = statsJob(ctx.engine, req.id, (id) => ctx.jobFile(id));
    if (stats) ctx.jobShown(req.id);
    return stats ? okYaml(renderJobStats(stats, ctx.dialect)) : REPLY.NOT_FOUND;
  },
  'x-unreserve'(ctx, req) {
    return REPLY[ctx.engine.unreserve(ctx.session, req.id)];
  },
  ...MOVE_HANDLERS,
  kick(ctx, req) {
    ctx.cmd.kick++;
    return lineReply(`KICKED ${ctx.engine.kick(ctx.session, req.bound)}`);
  },
  'peek-ready'(ctx) {
    ctx.cmd['peek-ready']++;
    return found(ctx, ctx.engine.peekReady(ctx.session));
  },
  'peek-delayed'(ctx) {
    ctx.cmd['peek-delayed']++;
    return found(ctx, ctx.engine.peekDelayed(ctx.session));
  },
  'peek-buried'(ctx) {
    ctx.cmd['peek-buried']++;
    return found(ctx, ctx.engine.peekBuried(ctx.session));
  },
  stats(ctx) {
    ctx.cmd.stats++;
    return okYaml(ctx.renderServerStats());
  },
  'list-tubes'(ctx) {
    ctx.cmd['list-tubes']++;
    return okYaml(yamlList(ctx.engine.tubeList.map((t) => t.name)));
  },
  'list-tube-used'(ctx) {
    ctx.cmd['list-tube-used']++;
    return lineReply(`USING ${ctx.session.used.name}`);
  },
  'list-tubes-watched'(ctx) {
    ctx.cmd['list-tubes-watched']++;
    return okYaml(yamlList(ctx.session.watched.map((t) => t.name)));
  },
  'x-hello'(ctx) {
    return lineReply(`${HELLO_PREFIX}${ctx.stalkdVersion} ${HELLO_FEATURES}`);
  },
  'x-cancel'(ctx) {
    return ctx.engine.cancelWait(ctx.session) ? REPLY.CANCELLED : REPLY.NOT_WAITING;
  },
  'x-role'(ctx) {
    return okYaml(roleYaml(ctx.shard.view()));
  },
  'x-auth'(ctx, req) {
    const token = ctx.shard.token;
    if (token !== undefined && !tokenMatches(req.token, token)) return REPLY.UNAUTHORIZED;
    ctx.authorize();
    return REPLY.OK;
  },
  'x-promote'(ctx, req) {
    return shardOnly(ctx, () => {
      ctx.defer(ctx.shard.promote(req.term, req.force));
      return null;
    });
  },
  'x-fence'(ctx, req) {
    return shardOnly(ctx, () => lineReply(ctx.shard.fence(req.term, req.lastTerm, req.lastLsn, req.member)));
  },
  'x-replicate'(ctx, req) {
    return shardOnly(ctx, () => {
      ctx.handOver(req);
      return null;
    });
  },
};

export function dispatch(ctx: HandlerContext, req: Request): Reply | null {
  if (!ctx.shard.writable && CHANGING.has(req.op)) return REPLY.NOT_PRIMARY;
  const handler = HANDLERS[req.op] as Handler<Request>;
  return handler(ctx, req);
}
