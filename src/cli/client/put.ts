/** `stalkd put [BODY]`: put one job (body from the argument, --file, or stdin). */
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import {
  CliError,
  type ConnectionOptions,
  clientCommand,
  fail,
  parseU32,
  printJson,
  withClient,
} from './common';

interface PutCommandOptions extends ConnectionOptions {
  tube: string;
  pri: number;
  delay: number;
  ttr: number;
  file?: string;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function bodyFrom(arg: string | undefined, file: string | undefined): Promise<Buffer> {
  if (arg !== undefined && file !== undefined)
    throw new CliError('give the body as an argument or --file, not both');
  if (file !== undefined) {
    try {
      return await readFile(file);
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (arg !== undefined && arg !== '-') return Buffer.from(arg);
  if (arg === undefined && process.stdin.isTTY)
    throw new CliError('no job body: give it as an argument, with --file, or on stdin');
  return readStdin();
}

/**
 * Job ids through the proxy carry their node (docs/proxy.md, "Job ids"): what a beanstalkd user
 * expecting 1, 2, 3, 4 needs to know before reading `inserted 66`.
 */
export const PUT_ID_NOTE =
  'The id printed is the one to use with peek, delete, kick … Through stalkd proxy ids are unique\n' +
  'and stable but not dense: each carries the node that holds the job, so successive puts may\n' +
  'print 2, 66, 3 … (docs/proxy.md, "Job ids"). On a node or beanstalkd they count 1, 2, 3 …';

export function registerPut(program: Command): Command {
  return clientCommand(program, 'put', 'put a job; prints its id')
    .addHelpText('after', `\n${PUT_ID_NOTE}`)
    .argument('[body]', 'job body ("-" or omitted: read stdin)')
    .addOption(new Option('-t, --tube <tube>', 'tube to put into').default('default'))
    .addOption(new Option('--pri <n>', 'priority, 0 = most urgent').argParser(parseU32).default(1024))
    .addOption(
      new Option('--delay <secs>', 'seconds before the job becomes ready').argParser(parseU32).default(0),
    )
    .addOption(
      new Option('--ttr <secs>', 'seconds a worker may hold the job').argParser(parseU32).default(60),
    )
    .addOption(new Option('-f, --file <path>', 'read the body from a file'))
    .action(async (arg: string | undefined, opts: PutCommandOptions) => {
      let body: Buffer;
      try {
        body = await bodyFrom(arg, opts.file);
      } catch (err) {
        fail('put', err, opts);
        return;
      }
      await withClient('put', opts, async (client) => {
        if (opts.tube !== 'default') await client.use(opts.tube);
        const id = await client.put(body, { pri: opts.pri, delaySecs: opts.delay, ttrSecs: opts.ttr });
        if (opts.json) printJson({ id, tube: opts.tube, bytes: body.length });
        else process.stdout.write(`inserted ${id}\n`);
      });
    });
}
