import type { Client } from '../client';

/**
 * A client connection opened on first use (concurrent first uses share one connect) and
 * forgotten when it closes or is dropped: the next use opens a new one.
 */
export class LazyClient {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  /** Bumped by drop(): a connect still in flight then closes what it opens. */
  private generation = 0;

  constructor(private readonly open: () => Promise<Client>) {}

  get(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const generation = this.generation;
    const connecting = this.open().then(
      (client) => {
        if (this.connecting === connecting) this.connecting = null;
        if (generation !== this.generation) {
          void client.close();
          throw new Error('connection dropped while opening');
        }
        this.client = client;
        void client.closed.then(() => {
          if (this.client === client) this.client = null;
        });
        return client;
      },
      (err: unknown) => {
        if (this.connecting === connecting) this.connecting = null;
        throw err;
      },
    );
    this.connecting = connecting;
    return connecting;
  }

  /** Closes the connection if one is open; the next get() opens a new one. */
  drop(): void {
    this.generation++;
    this.connecting = null;
    const client = this.client;
    this.client = null;
    if (client) void client.close();
  }
}
