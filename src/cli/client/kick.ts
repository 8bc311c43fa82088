/** `stalkd kick [BOUND]`: kick buried (else delayed) jobs of a tube, or one job with --job. */
import { type Command, Option } from 'commander';
import { kickTube } from '../../client/tube-ops';
import {
  CliError,
  type ConnectionOptions,
  clientCommand,
  parseJobId,
  parseU32,
  printJson,
  withClient,
} from './common';

interface KickCommandOptions extends ConnectionOptions {
  tube: string;
  job?: string;
}

export function registerKick(program: Command): Command {
  return clientCommand(program, 'kick', 'move buried (or else delayed) jobs back to ready')
    .argument('[bound]', 'at most this many jobs', parseU32, 1)
    .addOption(new Option('-t, --tube <tube>', 'tube to kick in').default('default'))
    .addOption(new Option('-j, --job <id>', 'kick this one job (kick-job)'))
    .action(async (bound: number, opts: KickCommandOptions) => {
      await withClient('kick', opts, async (client) => {
        if (opts.job !== undefined) {
          const id = parseJobId(opts.job);
          if ((await client.kickJob(id)) === 'NOT_FOUND')
            throw new CliError(`job ${id} not found, or not buried or delayed`);
          if (opts.json) printJson({ kicked: 1, id });
          else process.stdout.write(`kicked job ${id}\n`);
          return;
        }
        const kicked = await kickTube(client, opts.tube, bound);
        if (opts.json) printJson({ kicked, tube: opts.tube });
        else process.stdout.write(`kicked ${kicked}\n`);
      });
    });
}
