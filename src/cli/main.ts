#!/usr/bin/env node
/**
 * The `stalkd` command: nodes, the proxy, a local cluster and client commands. A process that runs
 * one subcommand loads only that subcommand's modules (a node never loads ws, the dashboard or the
 * proxy): each entry of SUBCOMMANDS requires its module when it is registered.
 */
import type { Command } from 'commander';
import { STALKD_VERSION } from '../version';
import { StalkdCommand } from './environment';

type Register = (program: Command) => void;

const clientCommands = (): Register =>
  (require('./client') as typeof import('./client')).registerClientCommands;

/** Each top-level subcommand and how to register it, in the order `stalkd --help` lists them. */
export const SUBCOMMANDS: Readonly<Record<string, () => Register>> = {
  node: () => (require('./node') as typeof import('./node')).registerNodeCommand,
  proxy: () => (require('./proxy') as typeof import('./proxy')).registerProxyCommand,
  // `stalkd placement` is the proxy's (it registers both).
  placement: () => (require('./proxy') as typeof import('./proxy')).registerProxyCommand,
  cluster: () => (require('./cluster') as typeof import('./cluster')).registerClusterCommand,
  migrate: () => (require('./migrate') as typeof import('./migrate')).registerMigrateCommand,
  rebalance: () => (require('./rebalance') as typeof import('./rebalance')).registerRebalanceCommand,
  put: clientCommands,
  reserve: clientCommands,
  peek: clientCommands,
  kick: clientCommands,
  delete: clientCommands,
  stats: clientCommands,
  tubes: clientCommands,
  pause: clientCommands,
  clear: clientCommands,
  top: clientCommands,
  failover: () => (require('./failover') as typeof import('./failover')).registerFailoverCommand,
  binlog: () => (require('./binlog') as typeof import('./binlog')).registerBinlogCommand,
  healthcheck: () => (program) =>
    (require('./healthcheck') as typeof import('./healthcheck')).registerHealthcheckCommand(
      program,
      buildProgram,
    ),
};

/**
 * The whole program, or (given the subcommand a process is about to run) only that subcommand;
 * `stalkd --help`, `stalkd help …` and anything unknown get the whole program.
 */
export function buildProgram(only?: string): Command {
  const program = new StalkdCommand('stalkd')
    .description('a beanstalkd-compatible work queue that scales out')
    .version(STALKD_VERSION, '-v, --version', 'print the version')
    .showHelpAfterError();
  const loader = only === undefined ? undefined : SUBCOMMANDS[only];
  if (loader) {
    loader()(program);
    return program;
  }
  const registered = new Set<Register>();
  for (const load of Object.values(SUBCOMMANDS)) {
    const register = load();
    if (registered.has(register)) continue;
    registered.add(register);
    register(program);
  }
  return program;
}

if (require.main === module) {
  const sub = process.argv[2];
  buildProgram(sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? sub : undefined)
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`stalkd: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
