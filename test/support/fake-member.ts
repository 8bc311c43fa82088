/**
 * A shard member the test scripts: it answers `x-hello`, `x-role` (from `state`), `x-promote`
 * (the compare-and-set of docs/replication.md: standby, term higher, in sync — or `force`),
 * `use`/`watch`/`ignore`, and `put` (INSERTED with its own counter, NOT_PRIMARY unless primary),
 * and records every command it was sent. `stall()` stops answering; `kill()` closes the listener
 * and resets every connection, as a SIGKILL does.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

export interface FakeRole {
  role: 'primary' | 'standby' | 'candidate';
  term: number;
  lastTerm: number;
  lastLsn: number;
  inSync: boolean;
}

export class FakeMember {
  readonly commands: string[] = [];
  readonly puts: string[] = [];
  private readonly sockets = new Set<Socket>();
  private stalled = false;
  private nextId = 1;
  /** When set, x-promote is answered this line (a promotion that lost a race elsewhere). */
  refusePromotion: string | null = null;
  /**
   * The next this many x-promotes find their term already known (a proxy's attempt at that term
   * came first): TERM_NOT_HIGHER, the term raised.
   */
  promotionsRaced = 0;
  /** Called with each x-promote's term before it is answered (what happens elsewhere meanwhile). */
  onPromote: ((term: number) => void) | null = null;
  /** Called with each command line before it is answered. */
  onCommand: ((line: string) => void) | null = null;

  private constructor(
    private server: Server,
    public port: number,
    public state: FakeRole,
  ) {}

  static async start(state: FakeRole, port = 0): Promise<FakeMember> {
    const member = new FakeMember(createServer(), port, state);
    await member.listen(port);
    return member;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The x-promote lines received. */
  get promotes(): string[] {
    return this.commands.filter((c) => c.startsWith('x-promote'));
  }

  stall(on = true): void {
    this.stalled = on;
  }

  async kill(): Promise<void> {
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Listens again on the same port (a restart). */
  async restart(state: FakeRole): Promise<void> {
    this.state = state;
    this.server = createServer();
    await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    this.server.on('connection', (socket) => this.serve(socket));
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    let bodyLeft = 0;
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (bodyLeft > 0) {
          if (buf.length < bodyLeft) return;
          buf = buf.slice(bodyLeft);
          bodyLeft = 0;
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        this.commands.push(line);
        this.onCommand?.(line);
        if (line.startsWith('put ')) bodyLeft = Number(line.split(' ')[4]) + 2;
        if (!this.stalled) socket.write(this.answer(line));
      }
    });
  }

  private answer(line: string): string {
    const [word = '', arg = ''] = line.split(' ');
    const s = this.state;
    switch (word) {
      case 'x-hello':
        return 'OK stalkd fake\r\n';
      case 'x-role': {
        const yaml = `---\nrole: ${s.role}\nterm: ${s.term}\nlast-term: ${s.lastTerm}\nlast-lsn: ${s.lastLsn}\nin-sync: ${s.inSync}\n`;
        return `OK ${Buffer.byteLength(yaml)}\r\n${yaml}\r\n`;
      }
      case 'x-promote':
        return `${this.promote(Number(arg), line.endsWith(' force'))}\r\n`;
      case 'use':
        return `USING ${arg}\r\n`;
      case 'watch':
      case 'ignore':
        return 'WATCHING 1\r\n';
      case 'put':
        if (s.role !== 'primary') return 'NOT_PRIMARY\r\n';
        this.puts.push(line);
        return `INSERTED ${this.nextId++}\r\n`;
      default:
        return 'UNKNOWN_COMMAND\r\n';
    }
  }

  private promote(term: number, force: boolean): string {
    this.onPromote?.(term);
    if (this.refusePromotion !== null) return this.refusePromotion;
    if (this.promotionsRaced > 0) {
      this.promotionsRaced--;
      this.state = { ...this.state, term: Math.max(this.state.term, term) };
    }
    const s = this.state;
    if (s.role !== 'standby') return 'NOT_STANDBY';
    if (term <= s.term) return `TERM_NOT_HIGHER ${s.term}`;
    if (!s.inSync && !force) return 'NOT_IN_SYNC';
    this.state = { ...s, role: 'primary', term, lastTerm: term, lastLsn: s.lastLsn + 1 };
    return `PROMOTED ${term} ${this.state.lastLsn}`;
  }
}
