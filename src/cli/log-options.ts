/** `--log-format` and `--log-level`, shared by `stalkd node` and `stalkd proxy` (docs/operations.md). */
import { type Command, Option } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, Logger, type LogLevel } from '../log/logger';

export interface LogCommandOptions {
  logFormat: LogFormat;
  logLevel: LogLevel;
}

export function addLogOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--log-format <format>', 'log lines as text or JSON objects')
        .choices(LOG_FORMATS)
        .default('text'),
    )
    .addOption(
      new Option('--log-level <level>', 'log this level and above').choices(LOG_LEVELS).default('info'),
    );
}

export function loggerFrom(opts: LogCommandOptions, component: string): Logger {
  return new Logger({ component, format: opts.logFormat, level: opts.logLevel });
}
