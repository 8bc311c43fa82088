/**
 * Parses a container's command line with the project's own CLI (buildProgram) without running it:
 * every subcommand's action is replaced by a capture, so deploy files (Dockerfile CMD, compose
 * `command`, Kubernetes `args`) are checked against the flags that really exist. A renamed or
 * removed flag, a bad value (e.g. a port out of range) or an unknown subcommand is a parse error,
 * exactly as it would be when the container starts.
 *
 * Values are looked up by the flag as spelled in the container (`valueOf('-b')`), not by commander
 * attribute names, so the checks follow whatever long names the subcommands choose.
 */
import type { Command, Option, OptionValueSource } from 'commander';
import { buildProgram } from '../../src/cli/main';

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
 * Parses `args` (everything after the entrypoint, e.g. `['node', '-p', '11300']`) as the container
 * would, with `env` as the container's environment for options that read one. Throws
 * CommandLineError with commander's own message when the command line would be rejected.
 */
export function parseContainerCommand(
  args: readonly string[],
  env: Record<string, string> = {},
): ParsedCommandLine {
  const program = buildProgram();
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

/** The names of the subcommands the CLI has, for error messages and coverage checks. */
export function subcommandNames(): string[] {
  return buildProgram().commands.map((c) => c.name());
}

/**
 * Returns a copy of `args` with the value of each flag in `replacements` swapped (both `-p 1` and
 * `--port=1` spellings). Throws if a flag to replace is absent, so a test never silently runs the
 * container's own ports or paths on this machine.
 */
export function replaceOptionValues(args: readonly string[], replacements: Record<string, string>): string[] {
  const out = [...args];
  for (const [flag, value] of Object.entries(replacements)) {
    let found = false;
    for (let i = 0; i < out.length; i++) {
      if (out[i] === flag && i + 1 < out.length) {
        out[i + 1] = value;
        found = true;
      } else if (out[i]?.startsWith(`${flag}=`)) {
        out[i] = `${flag}=${value}`;
        found = true;
      }
    }
    if (!found) throw new Error(`${flag} is not set in: ${args.join(' ')}`);
  }
  return out;
}
