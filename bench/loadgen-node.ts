/**
 * The generator's fallback when no C compiler exists: the same flags, the same checks and the
 * same one-line JSON as bench/loadgen.c. `--workers N` (default 1) splits the connections over N
 * child processes that start each phase together and whose counts and latency histograms are
 * merged. Slower than the C generator: run its do-nothing server (the bench's `null` target) to
 * see the ceiling, and do not trust any column near it.
 */
import { fork } from 'node:child_process';
import net from 'node:net';

interface Flags {
  host: string;
  port: number;
  mode: string;
  conns: number;
  consumers: number;
  depth: number;
  count: number;
  seconds: number;
  setupSeconds: number;
  body: number;
  prefill: boolean;
  tubePerConn: boolean;
  holdTubes: number;
  checkMonotonic: boolean;
  workers: number;
  /** Worker w of workers: owns connections i with i % workers === w. */
  worker: number;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = {
    host: '127.0.0.1',
    port: 11300,
    mode: 'put',
    conns: 1,
    consumers: 0,
    depth: 1,
    count: 10000,
    seconds: 60,
    setupSeconds: 0,
    body: 100,
    prefill: false,
    tubePerConn: false,
    holdTubes: 0,
    checkMonotonic: false,
    workers: 1,
    worker: -1,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const key = a.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof Flags;
    if (!(key in f)) throw new Error(`loadgen-node: unknown flag ${a}`);
    const cur = f[key];
    if (typeof cur === 'boolean') (f as unknown as Record<string, unknown>)[key] = true;
    else if (typeof cur === 'number') (f as unknown as Record<string, unknown>)[key] = Number(argv[++i]);
    else (f as unknown as Record<string, unknown>)[key] = argv[++i];
  }
  return f;
}

const HIST_BUCKETS = 1_000_000; // 0.1 µs buckets up to 100 ms
const Kind = { Put: 0, Reserve: 1, Delete: 2, Setup: 3, List: 4, StatsTube: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];
type Role = 'put' | 'resdel' | 'cycle' | 'scrape' | 'hold';

interface Pending {
  kind: Kind;
  slot: number;
  sentNs: bigint;
  expect?: string;
}

class Fail extends Error {}

class Conn {
  readonly pending: Pending[] = [];
  head = 0;
  quota = 0;
  started = 0;
  done = 0;
  lastId = 0;
  setupLeft = 0;
  cycleStart: bigint[] = [];
  private in: Buffer = Buffer.alloc(0);
  private out: Buffer[] = [];

  constructor(
    readonly g: Gen,
    readonly idx: number,
    readonly role: Role,
    readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => g.fail(`conn ${idx}: server closed the connection`));
    socket.on('error', (e) => g.fail(`conn ${idx}: ${e.message}`));
  }

  get inflight(): number {
    return this.pending.length - this.head;
  }

  send(kind: Kind, line: string | Buffer, slot = 0, expect?: string): void {
    this.out.push(typeof line === 'string' ? Buffer.from(line, 'latin1') : line);
    const p: Pending = { kind, slot, sentNs: process.hrtime.bigint() };
    if (expect !== undefined) p.expect = expect;
    this.pending.push(p);
  }

  flush(): void {
    if (this.out.length === 0) return;
    this.socket.write(this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out));
    this.out = [];
  }

  private onData(chunk: Buffer): void {
    this.in = this.in.length ? Buffer.concat([this.in, chunk]) : chunk;
    let off = 0;
    try {
      for (let n = this.g.parse(this, this.in, off); n > 0; n = this.g.parse(this, this.in, off)) off += n;
    } catch (e) {
      this.g.fail(e instanceof Error ? e.message : String(e));
      return;
    }
    this.in = this.in.subarray(off);
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    this.g.pump(this);
    this.g.advance();
    this.flush();
  }
}

class Gen {
  conns: Conn[] = [];
  phase: 'setup' | 'prefill' | 'run' | 'done' = 'setup';
  tag = 0;
  readonly filler: Buffer;
  readonly histCycle = new Uint32Array(HIST_BUCKETS);
  readonly histRtt = new Uint32Array(HIST_BUCKETS);
  puts = 0;
  resdels = 0;
  tubes: string[] = [];
  scrapeBytes = 0;
  runT0 = 0n;
  runT1 = 0n;
  cpu0 = 0;
  onPhaseEnd: (phase: string) => void = () => {};

  constructor(readonly f: Flags) {
    this.filler = Buffer.alloc(f.body);
    for (let i = 0; i < f.body; i++) this.filler[i] = 97 + (i % 26);
  }

  fail(message: string): void {
    process.stderr.write(`loadgen-node: ${message}\n`);
    process.exit(2);
  }

  put(c: Conn, slot = 0): void {
    const f = this.f;
    const head = Buffer.from(`put 0 0 120 ${f.body}\r\n`, 'latin1');
    // As loadgen.c: a 10-digit tag, then the filler from its start (bodies under 10 B: filler only).
    const body = Buffer.allocUnsafe(f.body + 2);
    if (f.body >= 10) {
      body.write(String(this.tag++ % 1e10).padStart(10, '0'), 0, 'latin1');
      this.filler.copy(body, 10, 0, f.body - 10);
    } else this.filler.copy(body);
    body[f.body] = 13;
    body[f.body + 1] = 10;
    c.send(Kind.Put, Buffer.concat([head, body]), slot);
  }

  pump(c: Conn): void {
    const d = this.f.depth;
    if (d >= 4 && c.inflight > d / 2) return;
    const puts = this.phase === 'prefill' || (this.phase === 'run' && c.role === 'put');
    const reserves = this.phase === 'run' && c.role === 'resdel';
    while ((puts || reserves) && c.inflight < d && c.started < c.quota) {
      c.started++;
      if (puts) this.put(c);
      else c.send(Kind.Reserve, 'reserve\r\n');
    }
  }

  /** One reply from buf[off…]; its length, or 0 when incomplete. Throws Fail on a mismatch. */
  parse(c: Conn, buf: Buffer, off: number): number {
    const cr = buf.indexOf('\r\n', off, 'latin1');
    if (cr < 0) return 0;
    const p = c.pending[c.head];
    const line = buf.toString('latin1', off, cr);
    if (!p) throw new Fail(`conn ${c.idx}: unexpected reply ${line}`);
    let len = cr + 2 - off;
    let id = 0;
    const bad = (what: string): never => {
      throw new Fail(`conn ${c.idx}: ${what}, got: ${line.slice(0, 80)}`);
    };
    switch (p.kind) {
      case Kind.Put: {
        const m = /^INSERTED (\d+)$/.exec(line);
        if (!m || m[1] === '0') bad('expected INSERTED <id>');
        id = Number(m?.[1]);
        if (this.f.checkMonotonic && id <= c.lastId) bad(`id after ${c.lastId}`);
        c.lastId = id;
        break;
      }
      case Kind.Reserve: {
        const m = /^RESERVED (\d+) (\d+)$/.exec(line) ?? bad('expected RESERVED <id> <bytes>');
        id = Number(m[1]);
        const bytes = Number(m[2]);
        if (buf.length - (cr + 2) < bytes + 2) return 0;
        const body = buf.subarray(cr + 2, cr + 2 + bytes);
        const tagOk = bytes < 10 || /^\d{10}$/.test(body.toString('latin1', 0, 10));
        const from = bytes >= 10 ? 10 : 0;
        if (bytes !== this.f.body || !tagOk || this.filler.compare(body, from, bytes, 0, bytes - from) !== 0)
          bad('body corrupt');
        if (buf[cr + 2 + bytes] !== 13 || buf[cr + 3 + bytes] !== 10) bad('body not followed by CRLF');
        len += bytes + 2;
        break;
      }
      case Kind.Delete:
        if (line !== 'DELETED') bad('expected DELETED');
        break;
      case Kind.Setup:
        if (!(p.expect === undefined ? /^WATCHING \d+$/.test(line) : line === p.expect)) bad('setup reply');
        break;
      case Kind.List:
      case Kind.StatsTube: {
        const m = /^OK (\d+)$/.exec(line) ?? bad('expected OK <bytes>');
        const bytes = Number(m[1]);
        if (buf.length - (cr + 2) < bytes + 2) return 0;
        const yaml = buf.toString('latin1', cr + 2, cr + 2 + bytes);
        this.scrapeBytes += len + bytes + 2;
        len += bytes + 2;
        if (p.kind === Kind.List)
          this.tubes = yaml.split('\n').flatMap((l) => (l.startsWith('- ') ? [l.slice(2)] : []));
        else {
          const name = this.tubes[p.slot] ?? '';
          if (!yaml.startsWith(`---\nname: ${name}\n`) && !yaml.startsWith(`---\nname: "${name}"\n`))
            bad('stats-tube YAML');
        }
        break;
      }
    }
    c.head++;
    const now = process.hrtime.bigint();
    if (this.phase === 'run' && c.role === 'cycle') record(this.histRtt, now - p.sentNs);
    if (this.phase === 'setup') {
      c.setupLeft--;
      return len;
    }
    this.follow(c, p, id, now);
    return len;
  }

  /** What a reply leads to: the next step of a cycle, a delete, a stats-tube fan-out. */
  private follow(c: Conn, p: Pending, id: number, now: bigint): void {
    switch (p.kind) {
      case Kind.Put:
        if (c.role === 'cycle' && this.phase === 'run') c.send(Kind.Reserve, 'reserve\r\n', p.slot);
        else {
          c.done++;
          this.puts++;
        }
        break;
      case Kind.Reserve:
        c.send(Kind.Delete, `delete ${id}\r\n`, p.slot);
        break;
      case Kind.Delete:
        c.done++;
        this.resdels++;
        if (c.role === 'cycle') {
          record(this.histCycle, now - (c.cycleStart[p.slot] ?? now));
          if (c.started < c.quota) this.startCycle(c, p.slot);
        }
        break;
      case Kind.List:
        c.done++;
        c.quota = this.tubes.length + 1;
        this.tubes.forEach((t, i) => {
          c.send(Kind.StatsTube, `stats-tube ${t}\r\n`, i);
        });
        break;
      default:
        c.done++;
    }
  }

  startCycle(c: Conn, slot: number): void {
    c.cycleStart[slot] = process.hrtime.bigint();
    c.started++;
    this.put(c, slot);
  }

  allDone(): boolean {
    return this.conns.every((c) => c.role === 'hold' || (c.done >= c.quota && c.inflight === 0));
  }

  /** Ends a phase when every connection is through; workers then wait for the parent's go. */
  advance(): void {
    if (this.phase === 'setup' && this.conns.every((c) => c.setupLeft <= 0)) this.onPhaseEnd('setup');
    else if (this.phase === 'prefill' && this.allDone()) this.onPhaseEnd('prefill');
    else if (this.phase === 'run' && this.allDone()) {
      this.runT1 = process.hrtime.bigint();
      this.phase = 'done';
      this.onPhaseEnd('run');
    }
  }

  begin(phase: 'prefill' | 'run'): void {
    this.phase = phase;
    const f = this.f;
    if (phase === 'run') {
      this.runT0 = process.hrtime.bigint();
      const u = process.cpuUsage();
      this.cpu0 = (u.user + u.system) / 1e6;
    }
    for (const c of this.conns) {
      c.started = c.done = 0;
      const consumer = f.mode === 'mixed' && c.idx >= f.conns;
      const share = (n: number, i: number, of: number): number => Math.floor(n / of) + (i < n % of ? 1 : 0);
      if (c.role === 'hold') c.quota = 0;
      else if (phase === 'prefill') c.quota = c.role === 'resdel' ? share(f.count, c.idx, f.conns) : 0;
      else if (c.role === 'scrape') {
        c.quota = 1;
        c.started = 1;
        c.send(Kind.List, 'list-tubes\r\n');
      } else
        c.quota = consumer ? share(f.count, c.idx - f.conns, f.consumers) : share(f.count, c.idx, f.conns);
      if (phase === 'run' && c.role === 'cycle')
        for (let s = 0; s < f.depth && c.started < c.quota; s++) this.startCycle(c, s);
      this.pump(c);
      c.flush();
    }
  }
}

function record(hist: Uint32Array, ns: bigint): void {
  const b = Math.min(Number(ns / 100n), HIST_BUCKETS - 1);
  hist[b] = (hist[b] ?? 0) + 1;
}

function percentiles(hist: Uint32Array): Record<string, number> | undefined {
  let total = 0;
  let sum = 0;
  let max = 0;
  hist.forEach((n, i) => {
    total += n;
    sum += n * (i + 0.5) * 0.1;
    if (n) max = (i + 1) * 0.1;
  });
  if (!total) return undefined;
  const out: Record<string, number> = { mean: sum / total, max, count: total };
  const want: Array<[string, number]> = [
    ['p50', 0.5],
    ['p90', 0.9],
    ['p99', 0.99],
    ['p999', 0.999],
  ];
  let acc = 0;
  let k = 0;
  for (let i = 0; i < hist.length && k < want.length; i++) {
    acc += hist[i] ?? 0;
    while (k < want.length && acc >= (want[k] as [string, number])[1] * total)
      out[(want[k++] as [string, number])[0]] = (i + 1) * 0.1;
  }
  return out;
}

function connect(f: Flags): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(f.port, f.host, () => resolve(s));
    s.once('error', reject);
  });
}

/** A worker: its connections, phases on the parent's command, its numbers back over IPC. */
async function runWorker(f: Flags): Promise<void> {
  const g = new Gen(f);
  const total = f.mode === 'mixed' ? f.conns + f.consumers : f.mode === 'scrape' ? 1 : f.conns;
  const baseRole: Role =
    f.mode === 'resdel' ? 'resdel' : f.mode === 'cycle' ? 'cycle' : f.mode === 'scrape' ? 'scrape' : 'put';
  if (f.holdTubes > 0 && f.worker === 0) {
    const c = new Conn(g, total, 'hold', await connect(f));
    for (let i = 0; i < f.holdTubes; i++) c.send(Kind.Setup, `watch t${String(i).padStart(5, '0')}\r\n`);
    c.setupLeft = f.holdTubes;
    g.conns.push(c);
  }
  for (let i = f.worker; i < total; i += f.workers) {
    const role: Role = f.mode === 'mixed' ? (i < f.conns ? 'put' : 'resdel') : baseRole;
    const c = new Conn(g, i, role, await connect(f));
    if (f.tubePerConn && role !== 'scrape') {
      const tube = `b${f.mode === 'mixed' && i >= f.conns ? (i - f.conns) % f.conns : i}`;
      c.send(Kind.Setup, `use ${tube}\r\n`, 0, `USING ${tube}`);
      c.send(Kind.Setup, `watch ${tube}\r\n`);
      c.send(Kind.Setup, 'ignore default\r\n');
      c.setupLeft = 3;
    }
    g.conns.push(c);
  }
  process.on('message', (msg: { go?: 'prefill' | 'run' }) => {
    if (msg.go) g.begin(msg.go);
  });
  setTimeout(
    () => {
      process.send?.({ phase: 'capped' });
    },
    f.seconds * 1000 + 120_000,
  ).unref();
  await new Promise<void>((resolve) => {
    g.onPhaseEnd = (phase) => {
      if (phase === 'run') {
        const u = process.cpuUsage();
        const report = {
          phase,
          ops: g.conns.reduce(
            (s, c) => s + (c.role === 'hold' || (f.mode === 'mixed' && c.role === 'put') ? 0 : c.done),
            0,
          ),
          puts: g.puts,
          resdels: g.resdels,
          t0: String(g.runT0),
          t1: String(g.runT1),
          cpu: (u.user + u.system) / 1e6 - g.cpu0,
          tubes: g.tubes.length,
          scrapeBytes: g.scrapeBytes,
          cycle: sparse(g.histCycle),
          rtt: sparse(g.histRtt),
        };
        // Exit only once the report is through the IPC channel.
        process.send?.(report, () => resolve());
      } else process.send?.({ phase });
    };
    for (const c of g.conns) c.flush();
    g.advance();
  });
  process.exit(0);
}

const sparse = (h: Uint32Array): Array<[number, number]> => {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < h.length; i++) if (h[i]) out.push([i, h[i] as number]);
  return out;
};

interface WorkerReport {
  phase: string;
  ops: number;
  puts: number;
  resdels: number;
  t0: string;
  t1: string;
  cpu: number;
  tubes: number;
  scrapeBytes: number;
  cycle: Array<[number, number]>;
  rtt: Array<[number, number]>;
}

/** The parent: forks the workers, starts each phase when all are ready, merges their reports. */
async function runParent(f: Flags, argv: string[]): Promise<void> {
  const n = f.mode === 'scrape' ? 1 : Math.max(1, f.workers);
  const kids = Array.from({ length: n }, (_, w) =>
    fork(__filename, [...argv, '--workers', String(n), '--worker', String(w)], { stdio: 'inherit' }),
  );
  const reports: WorkerReport[] = [];
  let waiting = n;
  let next: 'prefill' | 'run' | 'end' = f.prefill ? 'prefill' : 'run';
  const deadline = setTimeout(
    () => finish(true),
    (f.seconds + (f.setupSeconds || Math.max(3 * f.seconds, 20))) * 1000,
  );
  const finish = (capped: boolean): void => {
    clearTimeout(deadline);
    for (const k of kids) k.kill();
    const t0 = reports.reduce((m, r) => (BigInt(r.t0) < m ? BigInt(r.t0) : m), BigInt(reports[0]?.t0 ?? 0));
    const t1 = reports.reduce((m, r) => (BigInt(r.t1) > m ? BigInt(r.t1) : m), 0n);
    const seconds = Number(t1 - t0) / 1e9;
    const sum = (k: 'ops' | 'puts' | 'resdels' | 'cpu' | 'tubes' | 'scrapeBytes'): number =>
      reports.reduce((s, r) => s + r[k], 0);
    const merge = (k: 'cycle' | 'rtt'): Uint32Array => {
      const h = new Uint32Array(HIST_BUCKETS);
      for (const r of reports) for (const [i, c] of r[k]) h[i] = (h[i] ?? 0) + c;
      return h;
    };
    const out: Record<string, unknown> = {
      mode: f.mode,
      conns: f.conns,
      consumers: f.consumers,
      depth: f.depth,
      body: f.body,
      ops: sum('ops'),
      seconds,
      rate: seconds > 0 ? sum('ops') / seconds : 0,
      puts: sum('puts'),
      reserveDeletes: sum('resdels'),
      capped,
      setupSeconds: 0,
      cpuSeconds: sum('cpu'),
    };
    if (f.mode === 'scrape') Object.assign(out, { tubes: sum('tubes'), scrapeBytes: sum('scrapeBytes') });
    if (f.mode === 'cycle')
      Object.assign(out, { cycleUs: percentiles(merge('cycle')), requestUs: percentiles(merge('rtt')) });
    process.stdout.write(`#done\n${JSON.stringify(out)}\n`);
    process.exit(capped ? 4 : 0);
  };
  for (const k of kids) {
    k.on('exit', (code) => {
      if (code && code !== 0 && next !== 'end') process.exit(code);
    });
    k.on('message', (msg: WorkerReport) => {
      if (msg.phase === 'capped') return finish(true);
      if (msg.phase === 'run') reports.push(msg);
      if (--waiting > 0) return;
      waiting = n;
      if (next === 'end') return finish(false);
      if (next === 'run') process.stdout.write('#run\n');
      for (const kid of kids) kid.send({ go: next });
      next = next === 'prefill' ? 'run' : 'end';
    });
  }
}

const flags = parseFlags(process.argv.slice(2));
if (flags.mode === 'serve') serve(flags);
else if (flags.worker >= 0) void runWorker(flags);
else void runParent(flags, process.argv.slice(2));

/** The do-nothing server: INSERTED 1, RESERVED 1 <body>, DELETED, USING, WATCHING 1. */
function serve(f: Flags): void {
  const filler = Buffer.alloc(f.body);
  for (let i = 0; i < f.body; i++)
    filler[i] = i < 10 && f.body >= 10 ? 48 : 97 + ((i - (f.body >= 10 ? 10 : 0)) % 26);
  const reserved = Buffer.concat([Buffer.from(`RESERVED 1 ${f.body}\r\n`), filler, Buffer.from('\r\n')]);
  const inserted = Buffer.from('INSERTED 1\r\n');
  const server = net.createServer({ noDelay: true }, (s) => {
    let buf = Buffer.alloc(0);
    let skip = 0;
    s.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const out: Buffer[] = [];
      let off = 0;
      for (;;) {
        if (skip) {
          const take = Math.min(skip, buf.length - off);
          off += take;
          skip -= take;
          if (skip) break;
        }
        const cr = buf.indexOf('\r\n', off, 'latin1');
        if (cr < 0) break;
        const c = buf[off];
        if (c === 0x70) {
          skip = Number(buf.toString('latin1', buf.lastIndexOf(0x20, cr) + 1, cr)) + 2;
          out.push(inserted);
        } else if (c === 0x72) out.push(reserved);
        else if (c === 0x64) out.push(Buffer.from('DELETED\r\n'));
        else if (c === 0x75) out.push(Buffer.from(`USING ${buf.toString('latin1', off + 4, cr)}\r\n`));
        else out.push(Buffer.from('WATCHING 1\r\n'));
        off = cr + 2;
      }
      buf = buf.subarray(off);
      if (out.length) s.write(Buffer.concat(out));
    });
    s.on('error', () => s.destroy());
  });
  server.listen(f.port, f.host, () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}
