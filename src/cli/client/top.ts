/**
 * `stalkd top`: a live view of the tubes, redrawn every --interval ms on the terminal's alternate
 * screen; q or Ctrl-C quits. When stdout is not a terminal (or with --once / --json) it takes two
 * samples one interval apart, so rates are known, prints one frame and exits.
 */
import { type Command, Option } from 'commander';
import type { ConnectOptions } from '../../client';
import { singleEndpointView } from '../../dashboard/cluster-view';
import { SnapshotCollector } from '../../dashboard/collector';
import type { Snapshot } from '../../dashboard/snapshot';
import { endpointText } from '../../net/endpoint';
import { parseInteger } from '../options';
import {
  CliError,
  type ConnectionOptions,
  clientCommand,
  connectOptionsFor,
  fail,
  printJson,
} from './common';
import { renderTopFrame, TOP_SORT_KEYS, type TopSortKey } from './top-view';

interface TopCommandOptions extends ConnectionOptions {
  interval: number;
  sort: TopSortKey;
  once: boolean;
}

const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function checkReachable(snapshot: Snapshot, endpoint: string): void {
  const node = snapshot.nodes[0];
  if (node && !node.reachable) throw new CliError(`cannot connect to ${endpoint}: ${node.error}`);
}

async function printOnce(
  collector: SnapshotCollector,
  opts: TopCommandOptions,
  endpoint: string,
): Promise<void> {
  checkReachable(await collector.collect(), endpoint);
  await sleep(opts.interval);
  const snapshot = await collector.collect();
  checkReachable(snapshot, endpoint);
  if (opts.json) {
    printJson(snapshot);
    return;
  }
  const frame = renderTopFrame(snapshot, {
    endpoint,
    sort: opts.sort,
    columns: Number.POSITIVE_INFINITY,
    rows: Number.POSITIVE_INFINITY,
    live: false,
  });
  process.stdout.write(`${frame.join('\n')}\n`);
}

function runLive(collector: SnapshotCollector, opts: TopCommandOptions, endpoint: string): Promise<void> {
  return new Promise((resolve) => {
    const out = process.stdout;
    const stdin = process.stdin;
    let timer: NodeJS.Timeout | undefined;
    let last: Snapshot | undefined;
    let stopped = false;
    const draw = (): void => {
      if (!last || stopped) return;
      const lines = renderTopFrame(last, {
        endpoint,
        sort: opts.sort,
        columns: out.columns || 80,
        rows: out.rows || 24,
        live: true,
      });
      out.write(`\x1b[H${lines.join('\x1b[K\n')}\x1b[K\x1b[J`);
    };
    const tick = async (): Promise<void> => {
      last = await collector.collect();
      draw();
      if (!stopped) timer = setTimeout(() => void tick(), opts.interval);
    };
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      out.off('resize', draw);
      stdin.off('data', onKey);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      out.write(LEAVE_SCREEN);
      resolve();
    };
    const onKey = (key: Buffer): void => {
      // q, Q, Ctrl-C (raw mode delivers it as a byte, not a signal), Esc.
      if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03) || key[0] === 0x1b) stop();
    };
    out.write(ENTER_SCREEN);
    out.on('resize', draw);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    void tick();
  });
}

export function registerTop(program: Command): Command {
  return clientCommand(program, 'top', 'live view of the tubes (q to quit)')
    .addOption(
      new Option('-i, --interval <ms>', 'refresh interval')
        .argParser(parseInteger(100, 3_600_000))
        .default(1000),
    )
    .addOption(new Option('-s, --sort <key>', 'order tubes by').choices(TOP_SORT_KEYS).default('name'))
    .addOption(
      new Option('--once', 'print one frame and exit (the default when stdout is not a terminal)').default(
        false,
      ),
    )
    .action(async (opts: TopCommandOptions) => {
      const endpoint = endpointText(opts.host, opts.port);
      let tls: ConnectOptions['tls'];
      try {
        tls = connectOptionsFor(opts).tls;
      } catch (err) {
        fail('top', err, opts);
        return;
      }
      const collector = new SnapshotCollector(singleEndpointView(opts.host, opts.port), {
        requestTimeoutMs: opts.connectTimeoutMs,
        ...(tls ? { tls } : {}),
      });
      try {
        if (opts.once || opts.json || !process.stdout.isTTY) await printOnce(collector, opts, endpoint);
        else await runLive(collector, opts, endpoint);
      } catch (err) {
        fail('top', err, opts);
      } finally {
        collector.close();
      }
    });
}
