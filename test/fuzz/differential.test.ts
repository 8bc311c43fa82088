/**
 * Differential fuzzing: the same mutated command streams, written in one piece to a fresh stalkd
 * node and to Debian's beanstalkd, must get the same replies (reply words and arguments; YAML bodies
 * are skipped since 1.12 and 1.13 quote differently). Delays are 0 or an hour, so nothing depends
 * on when a stream runs. The reference decides what is right.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import test from 'node:test';
import { startNodeServer } from '../../src/server/node-server';
import { fuzzStream, seededRand } from '../support/fuzz';
import { referenceVersion, startReference } from '../support/reference';

const END = 'use zz-end';

async function play(port: number, stream: Buffer): Promise<Buffer> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('error', () => {});
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).includes(`USING zz-end\r\n`)) resolve();
    });
    socket.on('close', () => resolve());
  });
  // A stream may end inside a long-line discard or a body: the filler and CRLFs end those, so the
  // end marker is always answered unless the stream quit.
  socket.write(stream);
  socket.write(Buffer.alloc(300_000, 0x78));
  socket.write(`\r\n\r\n${END}\r\n`);
  await done;
  socket.destroy();
  return Buffer.concat(chunks);
}

/** Reply lines; the bodies of OK/FOUND/RESERVED are skipped (OK bodies also lose their length). */
function replyLines(replies: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < replies.length) {
    const eol = replies.indexOf('\r\n', at);
    if (eol < 0) break;
    const line = replies.toString('latin1', at, eol);
    at = eol + 2;
    const m = /^(OK|FOUND \d+|RESERVED \d+) (\d+)$/.exec(line);
    if (m) {
      at += Number(m[2]) + 2;
      out.push(m[1] === 'OK' ? 'OK' : line);
    } else out.push(line);
  }
  return out;
}

const version = referenceVersion();
if (!version) {
  console.log('# differential fuzzing needs Debian beanstalkd (apt-get install -y beanstalkd)');
} else {
  test(`fuzz: stalkd node answers mutated streams exactly as beanstalkd ${version}`, async () => {
    const ref = await startReference(['-z', '1000']);
    const node = await startNodeServer({ host: '127.0.0.1', port: 0, maxJobBytes: 1000 });
    try {
      const seed = Number(process.env.STALKD_FUZZ_SEED ?? 4242);
      const connections = Number(process.env.STALKD_FUZZ_CONNECTIONS ?? 80);
      for (let n = 0; n < connections; n++) {
        const stream = fuzzStream(seededRand(seed + n), 120, ['0', '3600']);
        const expected = replyLines(await play(ref.port, stream));
        const actual = replyLines(await play(node.port, stream));
        const at = expected.findIndex((line, i) => actual[i] !== line);
        // beanstalkd closes with SO_LINGER 0: on quit its reset can destroy replies still in flight,
        // so after a quit only its replies that arrived are compared (stalkd closes gracefully).
        const quitCut = stream.includes('quit') && actual.length > expected.length;
        assert.ok(
          at < 0 && (actual.length === expected.length || quitCut),
          `stream ${seed + n} (${expected.length} vs ${actual.length} replies; tails ${JSON.stringify(expected.slice(-4))} ${JSON.stringify(actual.slice(-4))}): reply ${at} differs: beanstalkd ${JSON.stringify(expected.slice(Math.max(0, at - 2), at + 2))} stalkd ${JSON.stringify(actual.slice(Math.max(0, at - 2), at + 2))}`,
        );
      }
    } finally {
      await ref.stop();
      await node.close();
    }
  });
}
