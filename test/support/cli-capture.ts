/**
 * Parses a container's command line with the project's own CLI (src/cli/parse-only.ts) without
 * running it, so deploy files (Dockerfile CMD, compose
 * `command`, Kubernetes `args`) are checked against the flags that really exist. A renamed or
 * removed flag, a bad value (e.g. a port out of range) or an unknown subcommand is a parse error,
 * exactly as it would be when the container starts.
 *
 * Values are looked up by the flag as spelled in the container (`valueOf('-b')`), not by commander
 * attribute names, so the checks follow whatever long names the subcommands choose.
 */
import { buildProgram } from '../../src/cli/main';
import { CommandLineError, type ParsedCommandLine, parseCommandLine } from '../../src/cli/parse-only';

export { CommandLineError, type ParsedCommandLine };

/**
 * Parses `args` (everything after the entrypoint, e.g. `['node', '-p', '11300']`) as the container
 * would, with `env` as the container's environment for options that read one. Throws
 * CommandLineError with commander's own message when the command line would be rejected.
 */
export function parseContainerCommand(
  args: readonly string[],
  env: Record<string, string> = {},
): ParsedCommandLine {
  return parseCommandLine(buildProgram, args, env);
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
