/** `stalkd delete ID...`: delete jobs; exit status 1 if any was not found. */
import type { Command } from 'commander';
import { CliError, type ConnectionOptions, clientCommand, parseJobId, printJson, withClient } from './common';

export function registerDelete(program: Command): Command {
  return clientCommand(program, 'delete', 'delete jobs by id')
    .argument('<ids...>', 'job ids')
    .action(async (idTexts: string[], opts: ConnectionOptions) => {
      await withClient('delete', opts, async (client) => {
        const ids = idTexts.map(parseJobId);
        const replies = await Promise.all(ids.map((id) => client.delete(id)));
        const deleted = ids.filter((_, i) => replies[i] === 'DELETED');
        const notFound = ids.filter((_, i) => replies[i] === 'NOT_FOUND');
        if (opts.json) printJson({ deleted, notFound });
        else for (const id of deleted) process.stdout.write(`deleted ${id}\n`);
        if (notFound.length > 0)
          throw new CliError(`not found (or reserved by another client): ${notFound.join(' ')}`);
      });
    });
}
