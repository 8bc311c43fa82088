/** `stalkd peek [ID]`: show a job by id, or the next ready/delayed/buried job of a tube. */
import { type Command, Option } from 'commander';
import { DEFAULT_PEEK_BODY_BYTES } from '../../client/job-view';
import { PEEK_STATES, type PeekState, peekTube } from '../../client/tube-ops';
import { CliError, type ConnectionOptions, clientCommand, parseJobId, printJson, withClient } from './common';
import { formatJob, jsonBody } from './output';

interface PeekCommandOptions extends ConnectionOptions {
  tube: string;
  state?: PeekState;
  raw: boolean;
}

export function registerPeek(program: Command): Command {
  return clientCommand(program, 'peek', 'show a job without reserving it')
    .argument('[id]', 'job id (else the next job of --state in --tube)')
    .addOption(new Option('-t, --tube <tube>', 'tube for --state').default('default'))
    .addOption(new Option('-s, --state <state>', 'which job of the tube').choices(PEEK_STATES))
    .addOption(new Option('--raw', 'write only the body bytes (binary-safe)').default(false))
    .action(async (idText: string | undefined, opts: PeekCommandOptions) => {
      await withClient('peek', opts, async (client) => {
        if (idText !== undefined && opts.state) throw new CliError('give a job id or --state, not both');
        let found: { id: number; body: Buffer } | null;
        if (idText !== undefined) found = await client.peek(parseJobId(idText));
        else found = await peekTube(client, opts.tube, opts.state ?? 'ready');
        if (!found) {
          throw new CliError(
            idText !== undefined
              ? `job ${idText} not found`
              : `no ${opts.state ?? 'ready'} job in ${opts.tube}`,
          );
        }
        const stats = await client.statsJob(found.id);
        if (opts.json) printJson({ id: found.id, bytes: found.body.length, ...jsonBody(found.body), stats });
        else if (opts.raw) process.stdout.write(found.body);
        else process.stdout.write(formatJob(found.id, found.body, stats, DEFAULT_PEEK_BODY_BYTES * 16));
      });
    });
}
