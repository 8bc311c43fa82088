/**
 * Every flag of the long-running commands has an environment variable, named by one rule so that
 * none can ever be a Kubernetes service-link variable: `STALKD_` + the long flag name in upper
 * case (`--binlog-dir` → `STALKD_BINLOG_DIR`, `--no-fsync` → `STALKD_NO_FSYNC`), and a flag
 * naming a port ends in `_NUMBER` (`--port` → `STALKD_PORT_NUMBER`): Kubernetes injects
 * `<SERVICE>_PORT=tcp://…`, `<SERVICE>_SERVICE_HOST` and `<SERVICE>_PORT_<n>_TCP…` for every
 * Service of the namespace (a Service named `stalkd` gave `STALKD_PORT=tcp://10.0.0.1:11300`),
 * and no name made here has those shapes. `stalkd cluster` uses `STALKD_CLUSTER_…`: it starts
 * nodes and a proxy with its own environment, which must not read the launcher's settings.
 *
 * Flags given on the command line win over the environment. A boolean flag is on when its
 * variable is set, to anything. docs/configuration.md lists every variable.
 */
import { Command, type Option } from 'commander';

export const ENV_PREFIX: Readonly<Record<string, string>> = {
  node: 'STALKD_',
  proxy: 'STALKD_',
  cluster: 'STALKD_CLUSTER_',
};

/** Shapes of the variables Kubernetes derives from Service names (enableServiceLinks). */
const SERVICE_LINK =
  /(_SERVICE_HOST|_SERVICE_PORT(_[A-Z0-9_]+)?|_PORT|_PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$/;

export function isServiceLinkShaped(name: string): boolean {
  return SERVICE_LINK.test(name);
}

/** The variable for `option` of a command whose variables start with `prefix`. */
export function envNameFor(prefix: string, option: Option): string {
  const long = (option.long ?? '').replace(/^--/, '');
  const name = prefix + long.toUpperCase().replace(/-/g, '_');
  return name.endsWith('_PORT') ? `${name}_NUMBER` : name;
}

/**
 * The CLI's Command: an option added to a long-running command gets its variable by the rule
 * above (commander reads a variable only for options that have one when they are added). Its
 * subcommands are made the same way.
 */
export class StalkdCommand extends Command {
  override createCommand(name?: string): Command {
    return new StalkdCommand(name);
  }

  override addOption(option: Option): this {
    const prefix = ENV_PREFIX[this.name()];
    if (prefix !== undefined && (option.envVar === undefined || isServiceLinkShaped(option.envVar)))
      option.env(envNameFor(prefix, option));
    return super.addOption(option);
  }
}
