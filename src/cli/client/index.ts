/**
 * The client subcommands (`put`, `reserve`, `peek`, `kick`, `delete`, `stats`, `tubes`, `pause`,
 * `clear`, `top`): each talks the beanstalkd protocol to --host/--port, so they work against a
 * stalkd node, the proxy, or any beanstalkd.
 */
import type { Command } from 'commander';
import { registerClear } from './clear';
import { registerDelete } from './delete';
import { registerKick } from './kick';
import { registerPause } from './pause';
import { registerPeek } from './peek';
import { registerPut } from './put';
import { registerReserve } from './reserve';
import { registerStats } from './stats';
import { registerTop } from './top';
import { registerTubes } from './tubes';

export { CLIENT_HOST_ENV, CLIENT_PORT_ENV } from './common';

export function registerClientCommands(program: Command): void {
  registerPut(program);
  registerReserve(program);
  registerPeek(program);
  registerKick(program);
  registerDelete(program);
  registerStats(program);
  registerTubes(program);
  registerPause(program);
  registerClear(program);
  registerTop(program);
}
