/**
 * Engine test fixture: an Engine on a FakeClock, sessions whose wake-ups are recorded, a recording
 * journal, and `checkEngine`, which recomputes every count and structure the engine keeps
 * incrementally by walking all jobs, tubes and sessions from scratch.
 */
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/engine/clock';
import { DEADLINE_SOON_MARGIN_MS } from '../../src/engine/constants';
import { Engine, type EngineOptions } from '../../src/engine/engine';
import { NO_JOB } from '../../src/engine/job-table';
import { type JobRecord, JobState, type Journal } from '../../src/engine/journal';
import type { Session, WaitOutcome } from '../../src/engine/session';
import type { SlotHeap } from '../../src/engine/slot-heap';
import { URGENT_THRESHOLD } from '../../src/engine/tube';
import type { JobStats, TubeStats } from '../../src/protocol/stats';
import * as view from '../../src/server/stats-view';

export const T0 = 1_700_000_000_000;

/** `RESERVED <id>` | `DEADLINE_SOON` | `TIMED_OUT` | null (the session waits). */
export function describeOutcome(outcome: WaitOutcome | null): string | null {
  if (outcome === null) return null;
  return outcome.type === 'reserved' ? `RESERVED ${outcome.job.id}` : outcome.type;
}

/** What stats-tube would show for `name` (the node's own view of the engine). */
export function statsTube(engine: Engine, name: string): TubeStats | undefined {
  return view.statsTube(engine, name);
}

/** What stats-job would show for job `id`, without a binlog (file 0). */
export function statsJob(engine: Engine, id: number): JobStats | undefined {
  return view.statsJob(engine, id, () => 0);
}

export function body(text: string): Buffer {
  return Buffer.from(`${text}\r\n`, 'latin1');
}

export interface PutOptions {
  pri?: number;
  delayMs?: number;
  ttrMs?: number;
  text?: string;
}

export class Harness {
  readonly clock = new FakeClock(T0);
  readonly engine: Engine;
  /** Every session opened, closed ones included. */
  readonly sessions: Session[] = [];
  /** Wake-ups not yet taken, per session, as describeOutcome strings. */
  private readonly woken = new Map<Session, string[]>();
  /** Called on every wake-up, inside the engine call that caused it (model tests check there). */
  observe: ((s: Session, outcome: WaitOutcome) => void) | null = null;

  constructor(options: Omit<EngineOptions, 'clock'> = {}) {
    this.engine = new Engine({ ...options, clock: this.clock });
  }

  open(): Session {
    const s = this.engine.openSession((outcome) => {
      this.woken.get(s)?.push(describeOutcome(outcome) as string);
      this.observe?.(s, outcome);
    });
    this.woken.set(s, []);
    this.sessions.push(s);
    return s;
  }

  /** Wake-ups delivered to `s` since the last call. */
  wakes(s: Session): string[] {
    const list = this.woken.get(s) ?? [];
    this.woken.set(s, []);
    return list;
  }

  /** put that must succeed; returns the id. */
  put(s: Session, options: PutOptions = {}): number {
    const result = this.engine.put(
      s,
      options.pri ?? 0,
      options.delayMs ?? 0,
      options.ttrMs ?? 60_000,
      body(options.text ?? 'x'),
      true,
    );
    assert.equal(result.word, 'INSERTED');
    return (result as { id: number }).id;
  }

  reserve(s: Session, timeoutMs: number | null = 0, deadlineOnly = false): string | null {
    return describeOutcome(this.engine.reserve(s, timeoutMs, deadlineOnly));
  }

  /** Moves the clock by `ms` and ticks once; returns tick's next deadline. */
  advance(ms: number): number {
    this.clock.advance(ms);
    return this.engine.tick();
  }

  state(id: number): string | undefined {
    return this.engine.peek(id)?.state;
  }

  check(): void {
    checkEngine(this.engine, this.sessions);
  }
}

export type JournalCall =
  | { op: 'put'; record: JobRecord; body: string }
  | { op: 'update'; record: JobRecord }
  | { op: 'delete'; id: number }
  | { op: 'move'; record: JobRecord; dest: string };

/**
 * Records every call; `failing` makes logPut/logUpdate answer null (disk full). Id ceilings are
 * granted in blocks of `ceilingBlock` and listed in `ceilings` (not in `calls`); `refuseIds` makes
 * reserveIds answer null.
 */
export class RecordingJournal implements Journal {
  readonly calls: JournalCall[] = [];
  readonly ceilings: number[] = [];
  failing = false;
  refuseIds = false;
  ceilingBlock = 100;
  private seq = 0;

  reserveIds(id: number): number | null {
    if (this.refuseIds) return null;
    const ceiling = id + this.ceilingBlock - 1;
    this.ceilings.push(ceiling);
    return ceiling;
  }

  logPut(record: JobRecord, jobBody: Buffer): number | null {
    if (this.failing) return null;
    this.calls.push({ op: 'put', record: { ...record }, body: jobBody.toString('latin1') });
    return ++this.seq;
  }

  logMoveOut(record: JobRecord, dest: string): number | null {
    if (this.failing) return null;
    this.calls.push({ op: 'move', record: { ...record }, dest });
    return ++this.seq;
  }

  logUpdate(record: JobRecord): number | null {
    if (this.failing) return null;
    this.calls.push({ op: 'update', record: { ...record } });
    return ++this.seq;
  }

  logDelete(id: number): number {
    this.calls.push({ op: 'delete', id });
    return ++this.seq;
  }

  take(): JournalCall[] {
    return this.calls.splice(0);
  }
}

/** A tiny deterministic PRNG (mulberry32) for seeded model tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkHeap(heap: SlotHeap, less: (a: number, b: number) => boolean, what: string): void {
  const items = heap.values();
  for (let i = 1; i < items.length; i++)
    assert.ok(!less(items[i]!, items[(i - 1) >> 1]!), `${what}: heap order broken at ${i}`);
}

function heapHolds(heap: SlotHeap, job: number): boolean {
  return heap.has(job) && heap.values().includes(job);
}

/**
 * Recomputes from scratch everything the engine keeps incrementally and compares: global and
 * per-tube job counts, tube reference counts and list positions, session figures, waiting sets,
 * heap orders, and the next deadline.
 */
export function checkEngine(engine: Engine, sessions: readonly Session[]): void {
  const open = sessions.filter((s) => !s.closed);
  const total = { urgent: 0, ready: 0, reserved: 0, delayed: 0, buried: 0 };
  const perTube = new Map<string, typeof total>();
  for (const tube of engine.tubes.values())
    perTube.set(tube.name, { urgent: 0, ready: 0, reserved: 0, delayed: 0, buried: 0 });
  let next = Number.POSITIVE_INFINITY;
  const movingPerTube = new Map<string, number>();

  for (const [id, job] of engine.jobs) {
    assert.equal(job.id, id);
    assert.equal(engine.tubes.get(job.tube.name), job.tube, `job ${id} is in a dead tube`);
    const t = perTube.get(job.tube.name) as typeof total;
    switch (job.state) {
      case JobState.Ready:
        total.ready++;
        t.ready++;
        if (job.pri < URGENT_THRESHOLD) {
          total.urgent++;
          t.urgent++;
        }
        assert.ok(heapHolds(job.tube.ready, job.slot), `ready job ${id} not in its tube's ready heap`);
        assert.equal(job.reservedBy, null);
        break;
      case JobState.Delayed:
        total.delayed++;
        t.delayed++;
        assert.ok(heapHolds(job.tube.delayed, job.slot), `delayed job ${id} not in its tube's delay heap`);
        assert.ok(job.deadlineAtMs > 0);
        next = Math.min(next, job.deadlineAtMs);
        break;
      case JobState.Buried:
        total.buried++;
        t.buried++;
        assert.equal(job.reservedBy, null);
        break;
      case JobState.Moving:
        movingPerTube.set(job.tube.name, (movingPerTube.get(job.tube.name) ?? 0) + 1);
        assert.ok(engine.moves.of(id), `moving job ${id} has no move`);
        assert.equal(job.reservedBy, null);
        assert.ok(!heapHolds(job.tube.ready, job.slot) && !heapHolds(job.tube.delayed, job.slot));
        break;
      case JobState.Reserved: {
        total.reserved++;
        t.reserved++;
        const owner = job.reservedBy;
        assert.ok(owner && !owner.closed, `reserved job ${id} has no live owner`);
        assert.ok(heapHolds(owner.reserved, job.slot), `reserved job ${id} not in its owner's heap`);
        next = Math.min(next, job.deadlineAtMs);
        break;
      }
    }
  }
  for (const key of Object.keys(total) as (keyof typeof total)[])
    assert.equal(engine.counts[key], total[key], `counts.${key}`);
  for (const tube of engine.tubes.values())
    assert.equal(tube.movingCount, movingPerTube.get(tube.name) ?? 0, `${tube.name}: movingCount`);
  assert.equal(
    engine.moves.movingCount,
    [...movingPerTube.values()].reduce((a, n) => a + n, 0),
  );
  // The job table, its id index and the arena agree on how many jobs live.
  assert.equal(engine.table.index.size, engine.table.live, 'id index size');
  assert.equal(engine.table.arena.liveRecords, engine.table.live, 'arena records');

  // Tubes: list positions, reference counts, per-tube figures.
  assert.equal(engine.counts.tubes, engine.tubes.size);
  assert.equal(engine.tubeList.length, engine.tubes.size);
  engine.tubeList.forEach((tube, i) => {
    assert.equal(tube.listIndex, i);
    assert.equal(engine.tubes.get(tube.name), tube);
  });
  for (const tube of engine.tubes.values()) {
    const t = perTube.get(tube.name) as typeof total;
    assert.equal(tube.urgentCount, t.urgent, `${tube.name}.urgent`);
    assert.equal(tube.ready.size, t.ready, `${tube.name}.ready`);
    assert.equal(tube.reservedCount, t.reserved, `${tube.name}.reserved`);
    assert.equal(tube.delayed.size, t.delayed, `${tube.name}.delayed`);
    assert.equal(tube.buriedCount, t.buried, `${tube.name}.buried`);
    let buried = 0;
    let prev = NO_JOB;
    for (let j = tube.buriedHead; j !== NO_JOB; j = engine.table.next[j]!) {
      assert.equal(engine.view(j).state, JobState.Buried);
      assert.equal(engine.view(j).tube, tube);
      assert.equal(engine.table.prev[j], prev);
      prev = j;
      buried++;
    }
    assert.equal(tube.buriedTail, prev);
    assert.equal(buried, t.buried, `${tube.name} buried list length`);
    checkHeap(tube.ready, engine.table.readyLess, `${tube.name}.ready`);
    checkHeap(tube.delayed, engine.table.deadlineLess, `${tube.name}.delayed`);
    assert.equal(tube.usingCount, open.filter((s) => s.used === tube).length, `${tube.name}.using`);
    assert.equal(
      tube.watchingCount,
      open.filter((s) => s.watched.includes(tube)).length,
      `${tube.name}.watching`,
    );
    const waiters = open.filter((s) => s.waiting && !s.waitDeadlineOnly && s.watched.includes(tube));
    assert.deepEqual(
      [...tube.waiting].sort((a, b) => a.id - b.id),
      waiters,
      `${tube.name}.waiting`,
    );
    assert.ok(tube.inUse, `tube ${tube.name} should have been dropped`);
    if (tube.paused) next = Math.min(next, tube.unpauseAtMs);
    // Nobody waits on a tube that could serve them.
    if (!tube.paused && tube.ready.size > 0)
      assert.equal(tube.waiting.size, 0, `${tube.name} has ready jobs and waiters`);
  }

  // Sessions.
  assert.equal(engine.counts.sessions, open.length);
  assert.equal(engine.counts.producers, open.filter((s) => s.isProducer).length);
  assert.equal(engine.counts.workers, open.filter((s) => s.isWorker).length);
  assert.equal(engine.counts.waiting, open.filter((s) => s.waiting).length);
  for (const s of sessions) {
    if (s.closed) {
      assert.equal(s.reserved.size, 0);
      assert.equal(s.waiting, false);
      continue;
    }
    assert.equal(engine.tubes.get(s.used.name), s.used, `session ${s.id} uses a dead tube`);
    assert.equal(new Set(s.watched).size, s.watched.length, 'watch list has duplicates');
    for (const tube of s.watched) assert.equal(engine.tubes.get(tube.name), tube);
    checkHeap(s.reserved, engine.table.deadlineLess, `session ${s.id}.reserved`);
    for (const job of s.reserved.values()) assert.equal(engine.view(job).reservedBy, s);
    if (s.waiting) {
      const soonest = s.reserved.peek();
      const marginAt =
        soonest === NO_JOB
          ? Number.POSITIVE_INFINITY
          : engine.table.deadlineAtMs[soonest]! - DEADLINE_SOON_MARGIN_MS;
      next = Math.min(next, s.waitTimeoutAtMs, marginAt);
    }
  }
  assert.equal(engine.nextDeadline(), next, 'nextDeadline');
}
