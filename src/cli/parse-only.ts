/**
 * Parses a stalkd command line with the CLI's own definitions without running it: every
 * subcommand's action is replaced by a capture. `stalkd healthcheck` uses it to learn the ports of
 * the process it checks; the deploy tests use it to check container command lines against the
 * flags that really exist (a renamed flag or a bad value is the same error as at start).
 */
import type { Command, Option, OptionValueSource } from 'commander';

export class CommandLineError extends Error {
  readonly code = 'E_COMMAND_LINE';
  constructor(
    message: string,
    readonly args: readonly string[],
  ) {
    super(`stalkd ${args.join(' ')}: ${message}`);
    this.name = 'CommandLineError';
  }
}

export interface ParsedCommandLine {
  /** The subcommand that would run (`node`, `proxy`, …). */
  subcommand: string;
  args: readonly string[];
  /** Every option value after parsing (defaults and environment included), by attribute name. */
  options: Record<string, unknown>;
  /** The value of the option spelled `flag` (`-p`, `--metrics-port`); throws if no such option. */
  valueOf(flag: string): unknown;
  /** Where that value came from: 'cli', 'env', 'default', or undefined when unset. */
  sourceOf(flag: string): OptionValueSource | undefined;
}

function findOption(cmd: Command, flag: string): Option {
  const option = cmd.options.find((o) => o.short === flag || o.long === flag);
  if (!option) throw new Error(`stalkd ${cmd.name()} has no option ${flag}`);
  return option;
}

/** Runs `fn` with exactly `env` for the options' environment variables, then restores them. */
function withOptionEnv<T>(commands: readonly Command[], env: Record<string, string>, fn: () => T): T {
  const names = new Set(Object.keys(env));
  for (const cmd of commands) for (const o of cmd.options) if (o.envVar) names.add(o.envVar);
  const saved = new Map<string, string | undefined>();
  for (const name of names) {
    saved.set(name, process.env[name]);
    if (env[name] === undefined) delete process.env[name];
    else process.env[name] = env[name];
  }
  try {
    return fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/**
 * Parses `args` (everything after the program, e.g. `['node', '-p', '11300']`) with a fresh
 * program from `build`, with `env` as the environment of options that read one. Throws
 * CommandLineError with commander's own message when the command line would be rejected.
 */
export function parseCommandLine(
  build: () => Command,
  args: readonly string[],
  env: Record<string, string> = {},
): ParsedCommandLine {
  const program = build();
  const errors: string[] = [];
  let captured: Command | undefined;
  const quiet = { writeOut: () => {}, writeErr: (s: string) => errors.push(s), outputError: () => {} };
  const commands = [program, ...program.commands];
  for (const cmd of commands) {
    cmd.exitOverride();
    cmd.configureOutput(quiet);
  }
  for (const cmd of program.commands) {
    cmd.action((..._actionArgs: unknown[]) => {
      captured = cmd;
    });
  }
  withOptionEnv(commands, env, () => {
    try {
      program.parse([...args], { from: 'user' });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new CommandLineError(message, args);
    }
  });
  const cmd = captured;
  if (!cmd) throw new CommandLineError(`no subcommand ran ${errors.join(' ').trim()}`.trim(), args);
  return {
    subcommand: cmd.name(),
    args,
    options: cmd.opts(),
    valueOf: (flag) => cmd.getOptionValue(findOption(cmd, flag).attributeName()),
    sourceOf: (flag) => cmd.getOptionValueSource(findOption(cmd, flag).attributeName()),
  };
}
