/**
 * One handler per request kind (beanstalkd's dispatch_cmd, split into a table). A handler counts
 * the command as beanstalkd does, calls the engine and returns the reply — or null when there is
 * no reply now (a blocked reserve, quit).
 */
import type { Engine } from '../engine/engine';
import type { Job } from '../engine/job';
import type { Session, WaitOutcome } from '../engine/session';
import { WaitFlags } from '../engine/session';
import type { Request } from '../protocol/commands';
import { numbersLine, okYaml, REPLY, renderJobStats, renderTubeStats, yamlList } from '../protocol/replies';

export type Reply = Buffer | readonly Buffer[];

/** What a handler may use besides the engine. */
export interface HandlerContext {
  readonly engine: Engine;
  readonly session: Session;
  /** Statistics the engine does not know (pid, rusage, binlog, …). */
  renderServerStats(): string;
  jobFile(id: number): number;
  /** The session now blocks in reserve; `extended` = x-reserve-wait (reply carries the priority). */
  beginWait(extended: boolean): void;
  quit(): void;
  /** stalkd's own version, for x-hello. */
  readonly stalkdVersion: string;
}

type Handler<R extends Request> = (ctx: HandlerContext, req: R) => Reply | null;
/** The request variant whose op union contains K. */
type RequestOf<K> = Request extends infer R
  ? R extends { op: infer O }
    ? K extends O
      ? R
      : never
    : never
  : never;
type HandlerTable = { [K in Request['op']]: Handler<RequestOf<K>> };

const WORD = {
  INSERTED: Buffer.from('INSERTED', 'latin1'),
  RESERVED: Buffer.from('RESERVED', 'latin1'),
  FOUND: Buffer.from('FOUND', 'latin1'),
} as const;

export function jobReply(word: 'RESERVED' | 'FOUND', job: Job, withPri = false): Buffer[] {
  const head = numbersLine(WORD[word], job.id, job.bodyBytes, withPri ? job.pri : -1);
  return [head, job.bodyWithCrlf];
}

export function outcomeReply(outcome: WaitOutcome, withPri: boolean): Reply {
  if (outcome.type === 'reserved') return jobReply('RESERVED', outcome.job, withPri);
  return REPLY[outcome.type];
}

const found = (job: Job | undefined): Reply => (job ? jobReply('FOUND', job) : REPLY.NOT_FOUND);

function reserveCommon(
  ctx: HandlerContext,
  timeoutMs: number | null,
  flags: number,
  extended: boolean,
): Reply | null {
  const outcome = ctx.engine.reserve(ctx.session, timeoutMs, flags);
  if (outcome) return outcomeReply(outcome, extended);
  ctx.beginWait(extended);
  return null;
}

const HANDLERS: HandlerTable = {
  put(ctx, req) {
    const { engine, session } = ctx;
    engine.cmd.put++;
    engine.markProducer(session);
    const result = engine.put(session, req.pri, req.delayMs, req.ttrMs, req.body, req.bodyOk);
    if (result.word === 'INSERTED') return numbersLine(WORD.INSERTED, result.id);
    return REPLY[result.word];
  },
  error(ctx, req) {
    if (req.count) ctx.engine.cmd[req.count]++;
    return REPLY[req.word];
  },
  quit(ctx) {
    ctx.quit();
    return null;
  },
  use(ctx, req) {
    ctx.engine.cmd.use++;
    ctx.engine.use(ctx.session, req.tube);
    return Buffer.from(`USING ${req.tube}\r\n`, 'latin1');
  },
  watch(ctx, req) {
    ctx.engine.cmd.watch++;
    return Buffer.from(`WATCHING ${ctx.engine.watch(ctx.session, req.tube)}\r\n`, 'latin1');
  },
  ignore(ctx, req) {
    ctx.engine.cmd.ignore++;
    const n = ctx.engine.ignore(ctx.session, req.tube);
    return n === 'NOT_IGNORED' ? REPLY.NOT_IGNORED : Buffer.from(`WATCHING ${n}\r\n`, 'latin1');
  },
  'stats-tube'(ctx, req) {
    ctx.engine.cmd['stats-tube']++;
    const stats = ctx.engine.statsTube(req.tube);
    return stats ? okYaml(renderTubeStats(stats)) : REPLY.NOT_FOUND;
  },
  'pause-tube'(ctx, req) {
    ctx.engine.cmd['pause-tube']++;
    return REPLY[ctx.engine.pauseTube(req.tube, req.delayMs)];
  },
  reserve(ctx) {
    ctx.engine.cmd.reserve++;
    return reserveCommon(ctx, null, 0, false);
  },
  'reserve-with-timeout'(ctx, req) {
    ctx.engine.cmd['reserve-with-timeout']++;
    return reserveCommon(ctx, req.timeoutMs, 0, false);
  },
  'x-reserve-wait'(ctx, req) {
    if (req.flags & WaitFlags.CountReserve) ctx.engine.cmd.reserve++;
    if (req.flags & WaitFlags.CountReserveWithTimeout) ctx.engine.cmd['reserve-with-timeout']++;
    return reserveCommon(ctx, req.timeoutMs, req.flags, true);
  },
  'reserve-job'(ctx, req) {
    const job = ctx.engine.reserveJob(ctx.session, req.id);
    return job === 'NOT_FOUND' ? REPLY.NOT_FOUND : jobReply('RESERVED', job);
  },
  delete(ctx, req) {
    ctx.engine.cmd.delete++;
    return REPLY[ctx.engine.delete(ctx.session, req.id)];
  },
  release(ctx, req) {
    ctx.engine.cmd.release++;
    return REPLY[ctx.engine.release(ctx.session, req.id, req.pri, req.delayMs)];
  },
  bury(ctx, req) {
    ctx.engine.cmd.bury++;
    return REPLY[ctx.engine.bury(ctx.session, req.id, req.pri)];
  },
  touch(ctx, req) {
    ctx.engine.cmd.touch++;
    return REPLY[ctx.engine.touch(ctx.session, req.id)];
  },
  peek(ctx, req) {
    ctx.engine.cmd.peek++;
    return found(ctx.engine.peek(req.id));
  },
  'kick-job'(ctx, req) {
    return REPLY[ctx.engine.kickJob(req.id)];
  },
  'stats-job'(ctx, req) {
    ctx.engine.cmd['stats-job']++;
    const stats = ctx.engine.statsJob(req.id, (id) => ctx.jobFile(id));
    return stats ? okYaml(renderJobStats(stats)) : REPLY.NOT_FOUND;
  },
  'x-unreserve'(ctx, req) {
    return REPLY[ctx.engine.unreserve(ctx.session, req.id)];
  },
  kick(ctx, req) {
    ctx.engine.cmd.kick++;
    return Buffer.from(`KICKED ${ctx.engine.kick(ctx.session, req.bound)}\r\n`, 'latin1');
  },
  'peek-ready'(ctx) {
    ctx.engine.cmd['peek-ready']++;
    return found(ctx.engine.peekReady(ctx.session));
  },
  'peek-delayed'(ctx) {
    ctx.engine.cmd['peek-delayed']++;
    return found(ctx.engine.peekDelayed(ctx.session));
  },
  'peek-buried'(ctx) {
    ctx.engine.cmd['peek-buried']++;
    return found(ctx.engine.peekBuried(ctx.session));
  },
  stats(ctx) {
    ctx.engine.cmd.stats++;
    return okYaml(ctx.renderServerStats());
  },
  'list-tubes'(ctx) {
    ctx.engine.cmd['list-tubes']++;
    return okYaml(yamlList(ctx.engine.tubeList.map((t) => t.name)));
  },
  'list-tube-used'(ctx) {
    ctx.engine.cmd['list-tube-used']++;
    return Buffer.from(`USING ${ctx.session.used.name}\r\n`, 'latin1');
  },
  'list-tubes-watched'(ctx) {
    ctx.engine.cmd['list-tubes-watched']++;
    return okYaml(yamlList(ctx.session.watched.map((t) => t.name)));
  },
  'x-hello'(ctx) {
    return Buffer.from(`OK stalkd ${ctx.stalkdVersion}\r\n`, 'latin1');
  },
  'x-cancel'(ctx) {
    return ctx.engine.cancelWait(ctx.session) ? REPLY.CANCELLED : REPLY.NOT_WAITING;
  },
};

export function dispatch(ctx: HandlerContext, req: Request): Reply | null {
  const handler = HANDLERS[req.op] as Handler<Request>;
  return handler(ctx, req);
}
