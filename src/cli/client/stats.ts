/** `stalkd stats [TUBE]`: server stats, a tube's stats, or a job's (--job). */
import { type Command, Option } from 'commander';
import { CliError, type ConnectionOptions, clientCommand, parseJobId, printJson, withClient } from './common';
import { formatPairs } from './output';

interface StatsCommandOptions extends ConnectionOptions {
  job?: string;
}

export function registerStats(program: Command): Command {
  return clientCommand(program, 'stats', "server statistics, or a tube's with TUBE, or a job's with --job")
    .argument('[tube]', 'tube name')
    .addOption(new Option('-j, --job <id>', 'stats of one job'))
    .action(async (tube: string | undefined, opts: StatsCommandOptions) => {
      await withClient('stats', opts, async (client) => {
        if (tube !== undefined && opts.job !== undefined)
          throw new CliError('give a tube or --job, not both');
        let stats: Record<string, unknown> | null;
        if (opts.job !== undefined) {
          stats = await client.statsJob(parseJobId(opts.job));
          if (!stats) throw new CliError(`job ${opts.job} not found`);
        } else if (tube !== undefined) {
          stats = await client.statsTube(tube);
          if (!stats) throw new CliError(`tube ${tube} not found`);
        } else {
          stats = await client.stats();
        }
        if (opts.json) printJson(stats);
        else process.stdout.write(formatPairs(stats));
      });
    });
}
