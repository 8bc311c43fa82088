#!/usr/bin/env node
/** The `stalkd` command: nodes, the proxy, a local cluster and client commands. */
import type { Command } from 'commander';
import { STALKD_VERSION } from '../version';
import { registerBinlogCommand } from './binlog';
import { registerClientCommands } from './client';
import { registerClusterCommand } from './cluster';
import { StalkdCommand } from './environment';
import { registerHealthcheckCommand } from './healthcheck';
import { registerNodeCommand } from './node';
import { registerProxyCommand } from './proxy';

export function buildProgram(): Command {
  const program = new StalkdCommand('stalkd')
    .description('a beanstalkd-compatible work queue that scales out')
    .version(STALKD_VERSION, '-v, --version', 'print the version')
    .showHelpAfterError();
  registerNodeCommand(program);
  registerProxyCommand(program);
  registerClusterCommand(program);
  registerClientCommands(program);
  registerBinlogCommand(program);
  registerHealthcheckCommand(program, buildProgram);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`stalkd: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
