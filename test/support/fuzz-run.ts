/**
 * Runs many fuzz connections (fuzz.ts) against one server with a few at a time, checking each
 * verdict and that a fresh client is served every `probeEvery` connections. Used by the proxy fuzz
 * test (a count of connections) and by bench/fuzz-long.ts (a duration).
 */
import { fuzzConnection, seededRand } from './fuzz';
import { probe } from './processes';

export interface FuzzRunOptions {
  port: number;
  seed: number;
  /** Stop after this many connections … */
  connections?: number;
  /** … or once this wall-clock time has passed (whichever comes first). */
  untilMs?: number;
  concurrency: number;
  commandsPerConnection: number;
  probeEvery: number;
  /** Called after each connection (progress, RSS sampling). */
  onConnection?: (n: number) => void;
}

export interface FuzzRunResult {
  connections: number;
  verdicts: Record<string, number>;
  probes: number;
}

export async function runFuzz(options: FuzzRunOptions): Promise<FuzzRunResult> {
  const rand = seededRand(options.seed);
  const verdicts: Record<string, number> = {};
  const limit = options.connections ?? Number.MAX_SAFE_INTEGER;
  const untilMs = options.untilMs ?? Number.POSITIVE_INFINITY;
  let next = 0;
  let probes = 0;
  const worker = async (): Promise<void> => {
    while (next < limit && Date.now() < untilMs) {
      const n = next++;
      // Replay one connection alone with fuzzConnection(port, seededRand(connSeed), n, commands).
      const connSeed = options.seed + n * 7919 + rand(1000);
      const result = await fuzzConnection(
        options.port,
        seededRand(connSeed),
        n,
        options.commandsPerConnection,
      ).catch((err: Error) => {
        throw new Error(`${err.message} (connection seed ${connSeed})`);
      });
      if (result.verdict === 'closed-by-server' && !result.mayQuit) {
        throw new Error(
          `connection ${n} (connection seed ${connSeed}) was closed by the server without quit`,
        );
      }
      verdicts[result.verdict] = (verdicts[result.verdict] ?? 0) + 1;
      if (n % options.probeEvery === 0) {
        await probe(options.port, `probe-${n}`);
        probes++;
      }
      options.onConnection?.(n);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await probe(options.port, 'probe-end');
  return { connections: next, verdicts, probes: probes + 1 };
}
