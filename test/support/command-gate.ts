/**
 * A TCP relay on 127.0.0.1 port 0 that forwards requests to a node until the (pass + 1)-th request
 * line starting with `word` (e.g. `x-import`): from that line on, nothing more of that connection
 * reaches the node (replies still come back). `held` resolves once a line was held: the client is
 * then provably in the middle of its pipelined requests, some delivered and some not — the moment
 * to kill it. Lines are found by CRLF: the bodies sent through it must not begin with `word`.
 */
import { once } from 'node:events';
import net from 'node:net';

export class CommandGate {
  private readonly sockets = new Set<net.Socket>();
  private seen = 0;
  private release!: () => void;
  /** Resolves once a request line beyond `pass` arrived and was held back. */
  readonly held = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, word: string, pass: number): Promise<CommandGate> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const gate = new CommandGate(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (inbound) => gate.relay(inbound, targetPort, `${word} `, pass));
    return gate;
  }

  private relay(inbound: net.Socket, targetPort: number, prefix: string, pass: number): void {
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    let holding = false;
    let partial = Buffer.alloc(0); // the start of a line not complete yet
    inbound.on('data', (chunk: Buffer) => {
      if (holding) return;
      const data = Buffer.concat([partial, chunk]);
      let start = 0;
      for (let end = data.indexOf('\r\n'); end >= 0; end = data.indexOf('\r\n', start)) {
        if (data.subarray(start, start + prefix.length).toString('latin1') === prefix && ++this.seen > pass) {
          outbound.write(data.subarray(0, start));
          holding = true;
          this.release();
          return;
        }
        start = end + 2;
      }
      outbound.write(data.subarray(0, start));
      partial = data.subarray(start);
    });
    outbound.on('data', (chunk: Buffer) => inbound.write(chunk));
    inbound.on('close', () => outbound.end());
    outbound.on('close', () => inbound.destroy());
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
