/**
 * Protocol fuzzing against a running server (node or proxy): seeded random and mutated command
 * streams, split at random points, binary garbage, long lines and bodies, abrupt closes.
 *
 * How a connection is judged: after its fuzz bytes, the checker sends a filler larger than any
 * body or discard the generator can have declared (so a pending body or JOB_TOO_BIG skip ends),
 * then two CRLFs and `use sync-<n>`. The connection passed if `USING sync-<n>` arrives (it is in sync)
 * or the server closed it (a `quit` was in the stream). Blocking reserves are kept out of the
 * stream (the word is defused) so a connection cannot legitimately stop answering.
 *
 * One exception: a mutation can shift a put's tokens so that it declares a body of ~4 GB (e.g.
 * `put 0 4294967295 -1 9999` losing its `0`); its JOB_TOO_BIG discard then swallows everything after
 * it, the filler too, on beanstalkd as on stalkd. Such a stream is recognised by the node's own
 * parser (beanstalkd-exact, see the differential test) and judged `discarding`: the connection
 * must merely stay open.
 */
import { once } from 'node:events';
import net from 'node:net';
import { RequestParser } from '../../src/protocol/parser';

export type Rand = (n: number) => number;

export function seededRand(seed: number): Rand {
  let state = seed | 0;
  return (n: number): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const TUBES = ['default', 'a', 'b', 'c', 'x-y', '(p)', '$t_1', '-bad', 'n'.repeat(201), ''];
const NUMBERS = [
  '0',
  '1',
  '7',
  '1024',
  '4294967295',
  '4294967296',
  '-1',
  '+1',
  '0x10',
  '00',
  '18446744073709551616',
  '',
];

/** Largest declared body (after at most one mutation) is below this, so the filler always ends it. */
export const FUZZ_FILLER_BYTES = 256 * 1024;

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[rand(items.length)] as T;
}

function command(rand: Rand, delays: readonly string[]): Buffer {
  const id = () => pick(rand, ['1', '2', '3', String(rand(50)), '0', '18446744073709551615', 'x']);
  const num = () => pick(rand, NUMBERS);
  const tube = () => pick(rand, TUBES);
  switch (rand(24)) {
    case 0:
    case 1:
    case 2: {
      const size = rand(10) === 0 ? 1000 + rand(2000) : rand(64);
      const declared = rand(8) === 0 ? size + rand(3) - 1 : size;
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = rand(256);
      return Buffer.concat([
        Buffer.from(`put ${rand(3)} ${pick(rand, delays)} ${rand(3)} ${declared}\r\n`),
        body,
        Buffer.from('\r\n'),
      ]);
    }
    case 3:
      return Buffer.from(`use ${tube()}\r\n`);
    case 4:
      return Buffer.from(`watch ${tube()}\r\n`);
    case 5:
      return Buffer.from(`ignore ${tube()}\r\n`);
    case 6:
      return Buffer.from('reserve-with-timeout 0\r\n');
    case 7:
      return Buffer.from(`delete ${id()}\r\n`);
    case 8:
      return Buffer.from(`release ${id()} ${num()} ${pick(rand, delays)}\r\n`);
    case 9:
      return Buffer.from(`bury ${id()} ${num()}\r\n`);
    case 10:
      return Buffer.from(`touch ${id()}\r\n`);
    case 11:
      return Buffer.from(`peek ${id()}\r\n`);
    case 12:
      return Buffer.from(`${pick(rand, ['peek-ready', 'peek-delayed', 'peek-buried'])}\r\n`);
    case 13:
      return Buffer.from(`kick ${num()}\r\n`);
    case 14:
      return Buffer.from(`kick-job ${id()}\r\n`);
    case 15:
      return Buffer.from(`stats-job ${id()}\r\n`);
    case 16:
      return Buffer.from(`stats-tube ${tube()}\r\n`);
    case 17:
      return Buffer.from(
        `${pick(rand, ['stats', 'list-tubes', 'list-tube-used', 'list-tubes-watched'])}\r\n`,
      );
    case 18:
      return Buffer.from(`pause-tube ${tube()} ${pick(rand, delays)}\r\n`);
    case 19:
      return Buffer.from(`reserve-job ${id()}\r\n`);
    case 20: {
      const len = pick(rand, [223, 224, 225, 226, 500, 5000, 70000]);
      return Buffer.concat([Buffer.alloc(len, 0x61 + rand(26)), Buffer.from('\r\n')]);
    }
    case 21: {
      const garbage = Buffer.alloc(1 + rand(300));
      for (let i = 0; i < garbage.length; i++) garbage[i] = rand(256);
      return garbage;
    }
    case 22:
      // quit is rare so that most connections reach the sync check.
      if (rand(100) === 0) return Buffer.from(pick(rand, ['quit\r\n', 'quitX\r\n']));
      return Buffer.from(pick(rand, ['\r\n', '\n', '\r', '\0\r\n', 'PUT 0 0 0 1\r\n', 'statsx\r\n']));
    default:
      return Buffer.from(`put ${num()} ${num()} ${num()} ${pick(rand, ['1', '9999', 'z', ''])}\r\n`);
  }
}

/** At most one small mutation per command, so declared sizes stay below the filler. */
function mutate(rand: Rand, buf: Buffer): Buffer {
  if (rand(4) !== 0 || buf.length === 0) return buf;
  const at = rand(buf.length);
  switch (rand(4)) {
    case 0: {
      const copy = Buffer.from(buf);
      copy[at] = rand(256);
      return copy;
    }
    case 1:
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
    case 2:
      return Buffer.concat([buf.subarray(0, at), Buffer.from([rand(256)]), buf.subarray(at)]);
    default:
      return buf.subarray(0, at);
  }
}

/** Blocking reserves would legitimately stop a connection answering: defuse the word. */
function defuseBlocking(stream: Buffer): Buffer {
  const text = stream.toString('latin1').replace(/reserve(?!-job)/g, 'resXrve');
  return Buffer.from(text, 'latin1');
}

/**
 * A fuzz stream of `commands` commands. Delays and pauses come from `delays` (seconds): short ones
 * exercise timers; long ones make a stream's effect independent of when it runs (differential use).
 */
export function fuzzStream(rand: Rand, commands: number, delays: readonly string[] = ['0', '1']): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < commands; i++) parts.push(mutate(rand, command(rand, delays)));
  return defuseBlocking(Buffer.concat(parts));
}

export type FuzzVerdict = 'in-sync' | 'closed-by-server' | 'aborted-by-client' | 'discarding';

/** Whether a server (-z 1000) framing `stream`, the filler and `tail` reaches the `use <tube>` in the tail. */
function reachesSync(stream: Buffer, tail: string, tube: string): boolean {
  const parser = new RequestParser(1000);
  for (const part of [stream, Buffer.alloc(FUZZ_FILLER_BYTES, 0x78), Buffer.from(tail)]) {
    parser.push(part);
    for (let req = parser.next(); req !== undefined; req = parser.next()) {
      if (req.op === 'use' && req.tube === tube) return true;
    }
  }
  return false;
}

export interface FuzzResult {
  verdict: FuzzVerdict;
  /** The stream holds the bytes `quit`, so a close by the server may be legitimate. */
  mayQuit: boolean;
}

/**
 * Plays one fuzz connection: writes the stream in random pieces (sometimes aborting midway), then
 * checks sync as described above. Resolves with the verdict; rejects if neither sync nor close
 * happens within `timeoutMs`.
 */
export async function fuzzConnection(
  port: number,
  rand: Rand,
  n: number,
  commands: number,
  timeoutMs = 10_000,
): Promise<FuzzResult> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    received = (received + chunk.toString('latin1')).slice(-4096);
  });
  socket.on('error', () => {});
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closedPromise.then(() => {
    closed = true;
  });
  const stream = fuzzStream(rand, commands);
  const mayQuit = stream.includes('quit');
  const abortAt = rand(10) === 0 ? rand(stream.length + 1) : -1;
  let at = 0;
  while (at < stream.length && !closed) {
    const end = abortAt >= at && abortAt < at + 4096 ? abortAt : Math.min(stream.length, at + 1 + rand(4096));
    if (abortAt === end) {
      socket.write(stream.subarray(at, end));
      socket.destroy();
      return { verdict: 'aborted-by-client', mayQuit };
    }
    socket.write(stream.subarray(at, end));
    at = end;
    if (rand(8) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (closed) return { verdict: 'closed-by-server', mayQuit };
  const marker = `USING sync-${n}\r\n`;
  // Two CRLFs: a long-line discard looks at 224-byte windows and misses a CRLF that straddles two
  // (as beanstalkd does); the second one then ends it.
  const tail = `\r\n\r\nuse sync-${n}\r\n`;
  if (!reachesSync(stream, tail, `sync-${n}`)) {
    socket.destroy();
    return { verdict: 'discarding', mayQuit };
  }
  socket.write(Buffer.alloc(FUZZ_FILLER_BYTES, 0x78));
  socket.write(tail);
  const verdict = await new Promise<FuzzVerdict>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `connection ${n}: neither in sync nor closed; last bytes: ${JSON.stringify(received.slice(-300))}`,
          ),
        ),
      timeoutMs,
    );
    const check = (): void => {
      if (received.includes(marker)) {
        clearTimeout(timer);
        resolve('in-sync');
      }
    };
    socket.on('data', check);
    check();
    void closedPromise.then(() => {
      clearTimeout(timer);
      resolve(received.includes(marker) ? 'in-sync' : 'closed-by-server');
    });
  });
  socket.destroy();
  return { verdict, mayQuit };
}
