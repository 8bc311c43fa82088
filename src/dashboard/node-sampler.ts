/**
 * One node's figures for a poll: `stats`, `list-tubes`, then `stats-tube` for each tube, all
 * pipelined on one connection of the collector's own. The connection is opened on demand, parked
 * when the view asks (so it never counts in `default`'s current-using/current-watching), and
 * dropped on any failure or timeout; the next poll opens a new one.
 */
import { Client, type ConnectOptions, type ServerStats, type TubeStats } from '../client';
import { endpointText } from '../net/endpoint';
import { LazyClient } from './lazy-client';

export interface NodeSample {
  stats: ServerStats | null;
  /** Tube stats in list-tubes order, hidden tubes and those past the cap left out. */
  tubes: TubeStats[];
  /** Visible tubes left out because of the cap. */
  tubesNotShown: number;
  /** '' when the node answered. */
  error: string;
  /** When the answers were complete (ms since the epoch). */
  atMs: number;
}

export interface SamplerOptions {
  host: string;
  port: number;
  parkingTube: string | null;
  hiddenTubes: ReadonlySet<string>;
  /** Connect and whole-poll deadline. */
  timeoutMs: number;
  tls?: ConnectOptions['tls'];
}

class SampleTimeout extends Error {}

function describe(err: unknown): string {
  if (err instanceof Error) return 'code' in err && typeof err.code === 'string' ? err.code : err.message;
  return String(err);
}

export class NodeSampler {
  private readonly conn = new LazyClient(() => this.open());

  constructor(readonly options: SamplerOptions) {}

  get address(): string {
    return endpointText(this.options.host, this.options.port);
  }

  async sample(maxTubes: number): Promise<NodeSample> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SampleTimeout()), this.options.timeoutMs);
    });
    try {
      return await Promise.race([this.read(maxTubes), deadline]);
    } catch (err) {
      this.conn.drop();
      const error =
        err instanceof SampleTimeout ? `no answer in ${this.options.timeoutMs} ms` : describe(err);
      return { stats: null, tubes: [], tubesNotShown: 0, error, atMs: Date.now() };
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.conn.drop();
  }

  private async read(maxTubes: number): Promise<NodeSample> {
    const client = await this.conn.get();
    const [stats, names] = await Promise.all([client.stats(), client.listTubes()]);
    const visible = names.filter((n) => !this.options.hiddenTubes.has(n));
    const shown = visible.slice(0, maxTubes);
    const tubeStats = await Promise.all(shown.map((n) => client.statsTube(n)));
    return {
      stats,
      // null: the tube vanished between list-tubes and stats-tube.
      tubes: tubeStats.filter((t): t is TubeStats => t !== null),
      tubesNotShown: visible.length - shown.length,
      error: '',
      atMs: Date.now(),
    };
  }

  private async open(): Promise<Client> {
    const { host, port, timeoutMs, parkingTube, tls } = this.options;
    const client = await Client.connect({ host, port, timeoutMs, ...(tls ? { tls } : {}) });
    if (parkingTube !== null) {
      await Promise.all([client.use(parkingTube), client.watch(parkingTube), client.ignore('default')]);
    }
    return client;
  }
}
