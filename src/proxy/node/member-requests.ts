/**
 * One request to a shard member on a connection of its own, outside the pool's links: `x-role`
 * and `x-promote` for the proxy's failover (failover.ts) and `stalkd failover` (cli/failover.ts).
 */
import type { Reply } from '../../protocol/reply-parser';
import { Backend } from './backend';
import { type MemberRole, readMemberRole } from './member-role';

/** `x-role` on a connection of its own: null when the member cannot be asked or does not answer it. */
export async function askMemberRole(
  member: { host: string; port: number },
  timeoutMs: number,
): Promise<MemberRole | null> {
  const reply = await askOnce(member, undefined, 'x-role', timeoutMs);
  return reply?.word === 'OK' && reply.body ? readMemberRole(reply.body) : null;
}

/**
 * `x-promote TERM [force]` on a connection of its own (after `x-auth` when a token is set): the
 * member's answer line (PROMOTED <term> <lsn>, TERM_NOT_HIGHER <term>, NOT_IN_SYNC, …), or null
 * when it could not be asked.
 */
export async function promoteMember(
  member: { host: string; port: number },
  term: number,
  force: boolean,
  token: string | undefined,
  timeoutMs: number,
): Promise<string | null> {
  const reply = await askOnce(member, token, `x-promote ${term}${force ? ' force' : ''}`, timeoutMs);
  return reply?.line ?? null;
}

/** One request on a connection of its own, after `x-auth` when `token` is set (a refusal is the reply). */
async function askOnce(
  member: { host: string; port: number },
  token: string | undefined,
  line: string,
  timeoutMs: number,
): Promise<Reply | null> {
  const backend = new Backend({
    host: member.host,
    port: member.port,
    timeoutMs,
    maxPending: 4,
    onFailure: () => {},
  });
  try {
    if (token !== undefined) {
      const auth = await backend.request(`x-auth ${token}`);
      if (auth?.line !== 'OK') return auth;
    }
    return await backend.request(line);
  } finally {
    backend.close();
  }
}
