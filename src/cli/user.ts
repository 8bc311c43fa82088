/**
 * `-u USER` on `stalkd node` and `stalkd proxy`, as beanstalkd's: after the listener is bound
 * (so a root-only port or socket directory can be used) and before anything else is opened (the
 * node's binlog, the metrics port), the process becomes USER and USER's primary group.
 *
 * One deliberate difference: beanstalkd calls only setgid and setuid, so it keeps the supplementary
 * groups of whoever started it (root's, group 0 included); stalkd sets USER's own supplementary
 * groups (initgroups), as su and login do, so nothing of root's stays.
 *
 * The user is looked up through the system's name service (`getent passwd`, so LDAP and the like
 * work as for beanstalkd's getpwnam).
 */
import { execFileSync } from 'node:child_process';

/** Error class for the start-up edge: -u cannot be honoured. */
export class UserError extends Error {
  readonly code = 'E_USER';
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** USER's passwd entry (a name, or a numeric uid as getent accepts). */
export function lookUpUser(user: string): Account {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', user], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 2) throw new UserError(`-u ${user}: no such user`);
    throw new UserError(`-u ${user}: cannot look the user up (getent: ${(err as Error).message})`);
  }
  const [name, , uid, gid] = line.split('\n')[0]?.split(':') ?? [];
  if (name === undefined || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? ''))
    throw new UserError(`-u ${user}: unreadable passwd entry ${JSON.stringify(line.trim())}`);
  return { name, uid: Number(uid), gid: Number(gid) };
}

/**
 * Becomes USER: supplementary groups, then the primary group, then the user (the order in which
 * each step is still permitted). Without root this works only for the user the process already
 * is; anything else is a UserError saying so. Returns the account become.
 */
export function becomeUser(user: string): Account {
  const account = lookUpUser(user);
  const euid = process.geteuid?.();
  if (euid === undefined) throw new UserError('-u is not supported on this platform');
  if (euid !== 0) {
    if (account.uid === euid && account.gid === process.getegid?.()) return account;
    throw new UserError(`-u ${user}: only root can become another user (running as uid ${euid})`);
  }
  try {
    // In Node since 0.9, missing from @types/node's Process.
    const { initgroups } = process as { initgroups?: (user: string, extraGroup: number) => void };
    initgroups?.call(process, account.name, account.gid);
    process.setgid?.(account.gid);
    process.setuid?.(account.uid);
  } catch (err) {
    throw new UserError(`-u ${user}: ${(err as Error).message}`);
  }
  return account;
}
