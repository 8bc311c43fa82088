import { invariant } from './invariant';
import type { JobTable } from './job-table';
import { Tube } from './tube';

/**
 * Every live tube, by name, by number (job records name their tube by number) and in list-tubes
 * order: creation order, a removal moves the last tube into the hole (as beanstalkd). Numbers of
 * dropped tubes are reused.
 */
export class TubeRegistry {
  readonly byName = new Map<string, Tube>();
  readonly list: Tube[] = [];
  private readonly byNo: (Tube | undefined)[] = [];
  private readonly freeNos: number[] = [];

  constructor(private readonly table: JobTable) {}

  find(name: string): Tube | undefined {
    return this.byName.get(name);
  }

  /** The tube named `name`; `created` is true when it did not exist. */
  findOrMake(name: string): { tube: Tube; created: boolean } {
    const existing = this.byName.get(name);
    if (existing) return { tube: existing, created: false };
    const tube = new Tube(name, this.freeNos.pop() ?? this.byNo.length, this.table);
    this.byNo[tube.no] = tube;
    this.byName.set(name, tube);
    tube.listIndex = this.list.length;
    this.list.push(tube);
    return { tube, created: true };
  }

  numbered(no: number): Tube {
    const tube = this.byNo[no];
    invariant(tube !== undefined, `no tube numbered ${no}`);
    return tube;
  }

  /** Forgets `tube` (the caller checked it is unused); false when it was already gone. */
  drop(tube: Tube): boolean {
    if (tube.listIndex < 0) return false;
    this.byName.delete(tube.name);
    const last = this.list.pop() as Tube;
    if (last !== tube) {
      this.list[tube.listIndex] = last;
      last.listIndex = tube.listIndex;
    }
    tube.listIndex = -1;
    this.byNo[tube.no] = undefined;
    this.freeNos.push(tube.no);
    return true;
  }
}
