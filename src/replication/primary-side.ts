/**
 * A member's primary side (docs/replication.md, "What is sent", "Synchronous replication"): once it
 * leads, the promoted log takes the engine's writes and a ReplicationSource streams it to every
 * standby that connects and counts their acknowledgements into the composite durable LSN
 * (MemberLog). Catch-ups and full copies sent go on counting across terms.
 */
import type { Socket } from 'node:net';
import type { Binlog } from '../binlog';
import type { Engine } from '../engine/engine';
import type { ReplicateRequest } from '../protocol/commands';
import type { StandbyView } from '../server/shard';
import type { MemberLog } from './member-log';
import { primaryLog } from './primary-log';
import { ReplicationSource } from './source';

export interface PrimarySideOptions {
  syncStandbys: number;
  /** null: confirmations wait for K standbys forever. */
  standbyTimeoutMs: number | null;
  log: { info(line: string): void };
}

export class PrimarySide {
  private source: ReplicationSource | undefined;
  /** Sent by sources of earlier terms. */
  private catchUpsBefore = 0;
  private fullCopiesBefore = 0;

  constructor(
    private readonly log: MemberLog,
    private readonly options: PrimarySideOptions,
  ) {}

  /** Streaming to standbys (between lead() and close()). */
  get leading(): boolean {
    return this.source !== undefined;
  }

  /** `binlog` (promoted at `term`) takes the engine's writes; standbys may connect. */
  lead(binlog: Binlog, engine: Engine, term: number, shard: string): void {
    // total-jobs and cmd-delete count from this term's start, on the primary as on its standbys.
    engine.resetTermCounts();
    engine.attachJournal(this.log);
    binlog.attachJobSource((id) => engine.jobSource(id));
    const source = new ReplicationSource(primaryLog(binlog), {
      syncStandbys: this.options.syncStandbys,
      standbyTimeoutMs: this.options.standbyTimeoutMs,
      shard,
      term,
      log: (line) => this.options.log.info(line),
    });
    this.source = source;
    this.log.setPrimary(binlog, source);
  }

  /** `x-replicate` from a standby: the source answers on the socket; the answer word, for the log. */
  accept(socket: Socket, leftover: Buffer, req: ReplicateRequest): string {
    const source = this.source;
    if (source === undefined) throw new Error('replication: not leading');
    return source.accept(socket, leftover, req);
  }

  /** Stops streaming to standbys; its counts go on in the totals. */
  close(reason: string): void {
    const source = this.source;
    if (source === undefined) return;
    source.close(reason);
    this.catchUpsBefore += source.catchUpsSent;
    this.fullCopiesBefore += source.fullCopiesSent;
    this.source = undefined;
  }

  get waiting(): boolean {
    return this.source?.waiting ?? false;
  }

  get alone(): boolean {
    return this.source?.alone ?? false;
  }

  standbys(): StandbyView[] {
    return this.source?.figures() ?? [];
  }

  get catchUpsSent(): number {
    return this.catchUpsBefore + (this.source?.catchUpsSent ?? 0);
  }

  get fullCopiesSent(): number {
    return this.fullCopiesBefore + (this.source?.fullCopiesSent ?? 0);
  }
}
