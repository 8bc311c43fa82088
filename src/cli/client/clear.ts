/**
 * `stalkd clear TUBE`: delete every ready, delayed and buried job of a tube (reserved jobs belong
 * to their workers and stay). A progress bar goes to stderr when it is a terminal (or --progress).
 */
import { type Command, Option } from 'commander';
import { clearTube } from '../../client/tube-ops';
import { type ConnectionOptions, clientCommand, printJson, withClient } from './common';
import { safeText } from './output';
import { ProgressBar } from './progress-bar';

interface ClearCommandOptions extends ConnectionOptions {
  progress?: boolean;
}

export function registerClear(program: Command): Command {
  return clientCommand(program, 'clear', 'delete every ready, delayed and buried job in TUBE')
    .argument('<tube>', 'tube name')
    .addOption(new Option('--progress', 'show the progress bar even when stderr is not a terminal'))
    .addOption(new Option('--no-progress', 'never show the progress bar'))
    .action(async (tube: string, opts: ClearCommandOptions) => {
      await withClient('clear', opts, async (client) => {
        const show = opts.progress ?? Boolean(process.stderr.isTTY);
        const bar = show ? new ProgressBar(process.stderr, `clearing ${safeText(tube)}`) : undefined;
        const result = await clearTube(client, tube, { onProgress: (p) => bar?.update(p.deleted, p.total) });
        bar?.finish(result.deleted, result.total);
        if (opts.json) {
          printJson(result);
          return;
        }
        const left =
          result.reservedLeft > 0 ? ` (${result.reservedLeft} reserved jobs left to their workers)` : '';
        process.stdout.write(`cleared ${result.deleted} jobs from ${safeText(tube)}${left}\n`);
      });
    });
}
