/**
 * Starts `stalkd proxy` in front of the given nodes for the bench, until the CLI subcommand
 * exists: `node dist/bench/proxy-launcher.js --node HOST:PORT ... [--max-job-bytes N]`. Tubes
 * b0..b255 (the generator's --tube-per-conn names) are pinned round-robin to the nodes so every
 * node carries an equal share; ring placement of a handful of tubes would be lumpy.
 * Prints "bind 127.0.0.1:PORT" once listening; SIGTERM closes and exits (writing --cpu-prof).
 */
import { startProxyServer } from '../src/proxy/server';

async function main(): Promise<void> {
  const nodes: Array<{ index: number; name: string; host: string; port: number }> = [];
  let maxJobBytes = 65535;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1] ?? '';
    if (argv[i] === '--node') {
      const [host, port] = value.split(':');
      nodes.push({ index: nodes.length, name: `n${nodes.length}`, host: host ?? '', port: Number(port) });
    } else if (argv[i] === '--max-job-bytes') maxJobBytes = Number(value);
    else throw new Error(`proxy-launcher: unknown flag ${argv[i]}`);
  }
  const pins: Record<string, string> = {};
  for (let i = 0; i < 256; i++) pins[`b${i}`] = `n${i % nodes.length}`;
  const proxy = await startProxyServer({ host: '127.0.0.1', port: 0, nodes, pins, maxJobBytes });
  process.stdout.write(`bind ${proxy.host}:${proxy.port}\n`);
  const stop = (): void => {
    proxy.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`proxy-launcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
