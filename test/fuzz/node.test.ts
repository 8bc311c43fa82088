import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';
import { fuzzConnection, seededRand } from '../support/fuzz';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

async function startNodeProcess(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, 'node', '-l', '127.0.0.1', '-p', '0', '-V', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /bind [^\n]*:(\d+)\n/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`node exited: ${stderr}`)));
  });
  return { child, port };
}

/** A fresh client can still put, reserve and delete. */
async function probe(port: number, n: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  const done = new Promise<void>((resolve) =>
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (/DELETED\r\n$/.test(text)) resolve();
    }),
  );
  socket.write(
    `use probe-${n}\r\nput 0 0 60 2\r\nok\r\nwatch probe-${n}\r\nignore default\r\nreserve-with-timeout 0\r\n`,
  );
  await new Promise<void>((resolve) =>
    socket.on('data', () => {
      const m = /RESERVED (\d+) 2\r\nok\r\n/.exec(text);
      if (m) {
        socket.write(`delete ${m[1]}\r\n`);
        resolve();
      }
    }),
  );
  await done;
  socket.destroy();
}

test('fuzz: random and mutated input never crashes a node, connections stay in sync, memory stays bounded', async () => {
  const { child, port } = await startNodeProcess(['-z', '1000']);
  const exitedEarly = once(child, 'exit');
  try {
    const seed = Number(process.env.STALKD_FUZZ_SEED ?? 20261127);
    const connections = Number(process.env.STALKD_FUZZ_CONNECTIONS ?? 300);
    const rand = seededRand(seed);
    await probe(port, 0);
    const rssStart = rssBytes(child.pid as number);
    const verdicts: Record<string, number> = {};
    const concurrency = 4;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < connections) {
        const n = next++;
        const connRand = seededRand(seed + n * 7919 + rand(1000));
        const result = await fuzzConnection(port, connRand, n, 200);
        assert.ok(
          result.verdict !== 'closed-by-server' || result.mayQuit,
          `connection ${n} was closed without quit`,
        );
        verdicts[result.verdict] = (verdicts[result.verdict] ?? 0) + 1;
        if (n % 10 === 0) await probe(port, n);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await probe(port, connections);
    const rssEnd = rssBytes(child.pid as number);
    assert.equal(child.exitCode, null, 'the node is still running');
    assert.ok(
      (verdicts['in-sync'] ?? 0) > connections / 2,
      `most connections checked in sync: ${JSON.stringify(verdicts)}`,
    );
    assert.ok(rssEnd - rssStart < 128 * 1024 * 1024, `RSS grew by ${rssEnd - rssStart} bytes`);
  } finally {
    child.kill('SIGKILL');
    await exitedEarly;
  }
});
