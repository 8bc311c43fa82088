/**
 * What a standby's counters are after a restart or a full copy (docs/replication.md, "Counters"):
 * replay tallies, since the current term began, the jobs its primary made (total-jobs) and the jobs
 * a client deleted (cmd-delete), per tube, from the records in the log. A tube's tally goes with
 * its last live job, as the tube itself does on a standby that applies the stream.
 */
export interface TubeTally {
  /** Put records of jobs the primary made (not compaction copies, not beanstalkd imports). */
  made: number;
  /** Delete records of jobs that were not moving (a move's delete is not a client's). */
  deleted: number;
  live: number;
}

export class TermTally {
  /** total-jobs of `stats`: every job made in the term, whatever became of its tube. */
  made = 0;
  readonly tubes = new Map<string, TubeTally>();

  /** A Start record of a new term: counting starts again; live jobs stay. */
  newTerm(): void {
    this.made = 0;
    for (const t of this.tubes.values()) {
      t.made = 0;
      t.deleted = 0;
    }
  }

  /** A job replay had not seen: made by the primary, or a copy of an older one. */
  appeared(tube: string, made: boolean): void {
    let t = this.tubes.get(tube);
    if (t === undefined) {
      t = { made: 0, deleted: 0, live: 0 };
      this.tubes.set(tube, t);
    }
    t.live++;
    if (!made) return;
    t.made++;
    this.made++;
  }

  /** A live job's delete record; `byClient` unless the job was moving. */
  deleted(tube: string, byClient: boolean): void {
    const t = this.tubes.get(tube);
    if (t === undefined) return;
    if (byClient) t.deleted++;
    if (--t.live === 0) this.tubes.delete(tube);
  }
}
