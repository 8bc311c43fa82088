/**
 * `stalkd reserve`: reserve one job from the watched tubes and print it. By default the job is
 * released again (same priority, no delay) once printed, so looking does not consume it; --delete
 * consumes it, --bury buries it.
 */
import { type Command, Option } from 'commander';
import type { Client, Job } from '../../client';
import { DEFAULT_PEEK_BODY_BYTES } from '../../client/job-view';
import {
  CliError,
  type ConnectionOptions,
  clientCommand,
  collect,
  parseU32,
  printJson,
  withClient,
} from './common';
import { formatJob, jsonBody } from './output';

interface ReserveCommandOptions extends ConnectionOptions {
  tube?: string[];
  timeout?: number;
  delete: boolean;
  bury: boolean;
  raw: boolean;
}

/** Watches exactly `tubes` (plus nothing else), in order. */
export async function watchOnly(client: Client, tubes: readonly string[]): Promise<void> {
  if (tubes.length === 0) return;
  await Promise.all(tubes.map((t) => client.watch(t)));
  if (!tubes.includes('default')) await client.ignore('default');
}

async function reserveOne(client: Client, timeoutSecs: number | undefined): Promise<Job> {
  const got =
    timeoutSecs === undefined ? await client.reserve() : await client.reserveWithTimeout(timeoutSecs);
  if (got === 'TIMED_OUT') throw new CliError(`no job within ${timeoutSecs} s`, 2);
  if (got === 'DEADLINE_SOON')
    throw new CliError('DEADLINE_SOON: a job reserved on this connection is about to expire');
  return got;
}

export function registerReserve(program: Command): Command {
  return clientCommand(
    program,
    'reserve',
    'reserve a job and print it (released again unless --delete/--bury)',
  )
    .addOption(
      new Option('-t, --tube <tube>', 'watch this tube (repeatable; default: default)').argParser(collect),
    )
    .addOption(
      new Option('--timeout <secs>', 'wait at most this long (exit status 2 if none)').argParser(parseU32),
    )
    .addOption(new Option('--delete', 'delete the job after printing it').default(false).conflicts('bury'))
    .addOption(new Option('--bury', 'bury the job after printing it').default(false))
    .addOption(new Option('--raw', 'write only the body bytes (binary-safe)').default(false))
    .action(async (opts: ReserveCommandOptions) => {
      await withClient('reserve', opts, async (client) => {
        await watchOnly(client, opts.tube ?? []);
        const job = await reserveOne(client, opts.timeout);
        const stats = await client.statsJob(job.id);
        const pri = stats?.pri ?? 1024;
        let action: 'deleted' | 'buried' | 'released';
        if (opts.delete) action = (await client.delete(job.id)) === 'DELETED' ? 'deleted' : 'released';
        else if (opts.bury) action = (await client.bury(job.id, pri)) === 'BURIED' ? 'buried' : 'released';
        else {
          await client.release(job.id, pri, 0);
          action = 'released';
        }
        if (opts.json)
          printJson({
            id: job.id,
            tube: stats?.tube ?? null,
            bytes: job.body.length,
            ...jsonBody(job.body),
            action,
          });
        else if (opts.raw) process.stdout.write(job.body);
        else
          process.stdout.write(
            `${formatJob(job.id, job.body, stats, DEFAULT_PEEK_BODY_BYTES * 16)}(${action})\n`,
          );
      });
    });
}
