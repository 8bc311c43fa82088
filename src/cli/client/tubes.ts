/** `stalkd tubes`: every tube with its job counts (or only names with --names). */
import { type Command, Option } from 'commander';
import type { TubeStats } from '../../client';
import { type ConnectionOptions, clientCommand, printJson, withClient } from './common';
import { formatTable, type TableColumn } from './output';

interface TubesCommandOptions extends ConnectionOptions {
  names: boolean;
}

const num = (key: keyof TubeStats) => (t: TubeStats) => String(t[key]);

const COLUMNS: ReadonlyArray<TableColumn<TubeStats>> = [
  { title: 'TUBE', value: (t) => t.name },
  { title: 'URGENT', value: num('current-jobs-urgent'), right: true },
  { title: 'READY', value: num('current-jobs-ready'), right: true },
  { title: 'RESERVED', value: num('current-jobs-reserved'), right: true },
  { title: 'DELAYED', value: num('current-jobs-delayed'), right: true },
  { title: 'BURIED', value: num('current-jobs-buried'), right: true },
  { title: 'TOTAL', value: num('total-jobs'), right: true },
  { title: 'WATCHING', value: num('current-watching'), right: true },
  { title: 'WAITING', value: num('current-waiting'), right: true },
  {
    title: 'PAUSED',
    value: (t) => (t['pause-time-left'] > 0 ? `${t['pause-time-left']}s` : '-'),
    right: true,
  },
];

export function registerTubes(program: Command): Command {
  return clientCommand(program, 'tubes', 'list tubes with their job counts')
    .addOption(new Option('--names', 'names only, one per line').default(false))
    .action(async (opts: TubesCommandOptions) => {
      await withClient('tubes', opts, async (client) => {
        const names = await client.listTubes();
        if (opts.names) {
          if (opts.json) printJson(names);
          else process.stdout.write(names.map((n) => `${n}\n`).join(''));
          return;
        }
        const stats = (await Promise.all(names.map((n) => client.statsTube(n)))).filter(
          (t): t is TubeStats => t !== null,
        );
        if (opts.json) printJson(stats);
        else process.stdout.write(`${formatTable(stats, COLUMNS).join('\n')}\n`);
      });
    });
}
