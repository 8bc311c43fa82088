/**
 * The binlog's job index (columns, rows refilled from the last one) and the segments' pin counts,
 * against a model with a Set of pinning ids per segment — what the index replaced (issue 18).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobIndex } from '../../src/binlog/job-index';
import { Segment } from '../../src/binlog/segment';

function lcg(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
}

interface ModelJob {
  seg: Segment;
  bodySeg: Segment;
  orderLsn: number;
}

/** The replaced structure: a Set of pinning ids per segment, and when each last became empty. */
class SetModel {
  readonly jobs = new Map<number, ModelJob>();
  readonly refs = new Map<Segment, Set<number>>();
  readonly freedAt = new Map<Segment, number>();

  place(id: number, seg: Segment, bodySeg: Segment, orderLsn: number, lsn: number): void {
    const old = this.jobs.get(id);
    this.jobs.set(id, { seg, bodySeg, orderLsn });
    this.of(seg).add(id);
    this.of(bodySeg).add(id);
    if (old)
      for (const s of new Set([old.seg, old.bodySeg])) if (s !== seg && s !== bodySeg) this.unpin(id, s, lsn);
  }

  remove(id: number, lsn: number): void {
    const old = this.jobs.get(id) as ModelJob;
    this.jobs.delete(id);
    for (const s of new Set([old.seg, old.bodySeg])) this.unpin(id, s, lsn);
  }

  of(s: Segment): Set<number> {
    let set = this.refs.get(s);
    if (!set) this.refs.set(s, (set = new Set()));
    return set;
  }

  private unpin(id: number, s: Segment, lsn: number): void {
    if (this.of(s).delete(id) && this.of(s).size === 0) this.freedAt.set(s, lsn);
  }
}

describe('binlog job index', () => {
  it('job index: puts, state records, copies and deletes in random order agree with a set per segment', () => {
    const rand = lcg(7);
    const segments = [0, 1, 2, 3].map((i) => Segment.closed(i, `/nowhere/${i}`, 0));
    const index = new JobIndex();
    const model = new SetModel();
    let nextId = 1;
    let lsn = 0;
    let ids: number[] = [];
    for (let step = 0; step < 15_000; step++) {
      // Records go to the current segment, which moves forward now and then.
      const current = segments[Math.floor(step / 5000)] as Segment;
      if (step % 100 === 0) ids = [...model.jobs.keys()];
      const pick = ids[rand(Math.max(1, ids.length))];
      const j = pick === undefined ? undefined : model.jobs.get(pick);
      const action = rand(10);
      lsn++;
      if (action < 4) {
        const id = nextId++;
        index.fullRecord(id, current, 100 + rand(50), lsn, lsn);
        model.place(id, current, current, lsn, lsn);
      } else if (pick === undefined || j === undefined) {
        continue;
      } else if (action < 6) {
        index.stateRecord(pick, current, lsn);
        model.place(pick, current, j.bodySeg, lsn, lsn);
      } else if (action < 8) {
        index.fullRecord(pick, current, 120, j.orderLsn, lsn);
        model.place(pick, current, current, j.orderLsn, lsn);
      } else {
        index.remove(pick, lsn);
        model.remove(pick, lsn);
      }
      if (step % 997 !== 0) continue;
      assert.equal(index.size, model.jobs.size);
      for (const s of segments) assert.equal(s.refs.size, model.of(s).size, `segment ${s.index}`);
      for (const [id, m] of model.jobs) {
        assert.equal(index.orderLsnOf(id), m.orderLsn);
        assert.equal(index.bodySegmentOf(id), m.bodySeg);
        assert.ok(index.pins(id, m.seg) && index.pins(id, m.bodySeg));
      }
    }
    // Compaction's end: every job copied or deleted into the last segment empties the others.
    const last = segments[3] as Segment;
    for (const [id, m] of [...model.jobs]) {
      lsn++;
      if (rand(2) === 0) {
        index.remove(id, lsn);
        model.remove(id, lsn);
      } else {
        index.fullRecord(id, last, 120, m.orderLsn, lsn);
        model.place(id, last, last, m.orderLsn, lsn);
      }
    }
    for (const s of segments) {
      assert.equal(s.refs.size, model.of(s).size);
      assert.equal(s.freedAtLsn, model.freedAt.get(s) ?? 0, `segment ${s.index} freed at`);
    }
    assert.equal(model.freedAt.size, 3, 'the three older segments were emptied');
    assert.equal(index.has(nextId), false);
    assert.equal(index.orderLsnOf(nextId), 0);
  });

  it("job index: a segment's walk visits each pinning id once, oldest first, and resumes after the stale ones", () => {
    const old = Segment.closed(1, '/nowhere/1', 0);
    const current = Segment.closed(2, '/nowhere/2', 0);
    const index = new JobIndex();
    for (let id = 1; id <= 10; id++) index.fullRecord(id, old, 100, id, id);
    index.remove(2, 11);
    index.stateRecord(3, current, 12); // still pins `old` through its body
    const visited: number[] = [];
    const pins = (id: number): boolean => index.pins(id, old);
    // Copy the first four still pinning, then stop (a compaction batch's budget).
    old.refs.walk(pins, (id) => {
      visited.push(id);
      index.fullRecord(id, current, 100, id, 20 + id);
      return visited.length < 4;
    });
    assert.deepEqual(visited, [1, 3, 4, 5]);
    const rest: number[] = [];
    old.refs.walk(pins, (id) => {
      rest.push(id);
      return true;
    });
    assert.deepEqual(rest, [6, 7, 8, 9, 10]);
    assert.equal(old.refs.size, 5);
  });
});
