/**
 * The dashboard's "move tube T to node N" (docs/migration.md, "Rebalancing"), exactly what an
 * operator does by hand: pin T to N in the topology file the proxy follows (topology-pin.ts), let
 * this proxy re-read it at once — every other proxy following the file reads it too (file watch,
 * SIGHUP), so all route T to N — then run migrate for T (migrate.ts, the same code as `stalkd
 * migrate`), reporting each job moved. One move at a time per proxy.
 */
import {
  ActionCode,
  ActionError,
  type MoveProgress,
  type MoveTubeResult,
  type TubeMover,
} from '../dashboard';
import { Placement } from '../proxy/ring';
import type { Topology } from '../proxy/topology';
import type { ReloadOutcome } from '../proxy/topology-reload';
import { type Emit, migrateTopology } from './migrate';
import { PinError, pinTube } from './topology-pin';

/** The proxy's topology as the mover needs it (TopologyReloader fits). */
export interface FollowedTopology {
  readonly topology: Topology;
  reload(): Promise<ReloadOutcome>;
}

export interface MoverOptions {
  /** The file the proxy was started with (--topology). */
  file: string;
  /** The proxy's reloader, once it runs. */
  followed: () => FollowedTopology | null;
  /** How long migrate waits for reserved jobs of the tube, ms (`stalkd migrate --wait`). */
  waitMs: number;
}

function bad(message: string): ActionError {
  return new ActionError(ActionCode.BadRequest, message);
}

/** Refuses a node the topology does not have or that takes no tubes, before the file is touched. */
function checkNode(topology: Topology, node: string): void {
  const entry = topology.nodes.find((n) => n.name === node);
  if (!entry)
    throw bad(`no node "${node}" in the topology (nodes: ${topology.nodes.map((n) => n.name).join(', ')})`);
  if (entry.leaving) throw bad(`node "${node}" is leaving the cluster: it takes no tubes`);
}

export class TopologyTubeMover implements TubeMover {
  private running: string | null = null;

  constructor(private readonly options: MoverOptions) {}

  async move(tube: string, node: string, onProgress: (p: MoveProgress) => void): Promise<MoveTubeResult> {
    if (this.running)
      throw new ActionError(ActionCode.Busy, `a move is running (${this.running}): one at a time`);
    const followed = this.options.followed();
    if (!followed)
      throw new ActionError(ActionCode.Failed, 'the proxy does not follow its topology file yet');
    checkNode(followed.topology, node);
    this.running = `${tube} → ${node}`;
    try {
      const pinned = this.pin(tube, node);
      const topology = await this.reloaded(followed, tube, node);
      return { tube, node, pinned, ...(await this.migrate(topology, tube, onProgress)) };
    } finally {
      this.running = null;
    }
  }

  private pin(tube: string, node: string): boolean {
    try {
      return pinTube(this.options.file, tube, node).written;
    } catch (err) {
      if (!(err instanceof PinError)) throw err;
      throw new ActionError(
        err.reason === 'read-only' ? ActionCode.ReadOnly : ActionCode.BadRequest,
        err.message,
      );
    }
  }

  /** This proxy re-reads the file now; the tube must then be routed to `node`. */
  private async reloaded(followed: FollowedTopology, tube: string, node: string): Promise<Topology> {
    const outcome = await followed.reload();
    const owner = new Placement(followed.topology).ownerOf(tube).name;
    if (owner !== node)
      throw new ActionError(
        ActionCode.Failed,
        `the pin is in ${this.options.file} but the proxy routes ${tube} to ${owner} (reload ${outcome}: see its log)`,
      );
    return followed.topology;
  }

  private async migrate(
    topology: Topology,
    tube: string,
    onProgress: (p: MoveProgress) => void,
  ): Promise<Pick<MoveTubeResult, 'moved' | 'reservedLeft' | 'left'>> {
    let total = 0;
    let moved = 0;
    const emit: Emit = (event) => {
      if (event.tube !== tube) return;
      if (event.event === 'plan') total += Number(event.jobs);
      else if (event.event === 'moved') moved++;
      else return;
      onProgress({ moved, total });
    };
    const run = await migrateTopology(topology, { waitMs: this.options.waitMs, emit, only: tube });
    return { moved, reservedLeft: run.reservedLeft, left: run.left };
  }
}
