/** `stalkd pause TUBE SECONDS`: no job is handed out from the tube for that long (0 unpauses). */
import type { Command } from 'commander';
import { CliError, type ConnectionOptions, clientCommand, parseU32, printJson, withClient } from './common';

export function registerPause(program: Command): Command {
  return clientCommand(program, 'pause', 'pause a tube for SECONDS (0 = unpause)')
    .argument('<tube>', 'tube name')
    .argument('<seconds>', 'pause length', parseU32)
    .action(async (tube: string, seconds: number, opts: ConnectionOptions) => {
      await withClient('pause', opts, async (client) => {
        if ((await client.pauseTube(tube, seconds)) === 'NOT_FOUND')
          throw new CliError(`tube ${tube} not found`);
        if (opts.json) printJson({ tube, delaySecs: seconds });
        else process.stdout.write(seconds === 0 ? `unpaused ${tube}\n` : `paused ${tube} for ${seconds}s\n`);
      });
    });
}
