/**
 * `stalkd failover SHARD`: an operator's promotion (docs/failover.md). Asks every member of the
 * shard its `x-role`, prints them, and promotes the most advanced in-sync standby at the highest
 * term seen + 1 — the proxies adopt it at their next poll. With no in-sync standby it refuses,
 * unless `--force`: then the most advanced reachable standby is promoted with `x-promote … force`
 * after saying what can be lost (every change the old primary confirmed past that standby's log).
 */
import { type Command, Option } from 'commander';
import { askMemberRole, promoteMember } from '../proxy/node/member-requests';
import { compareLogs, type MemberRole, MemberRoleName } from '../proxy/node/member-role';
import { memberAddress, shardMembers, type TopologyMember } from '../proxy/topology';
import { topologyFromOptions } from './topology-options';

interface FailoverCommandOptions {
  nodes?: string;
  topology?: string;
  force: boolean;
  shardToken?: string;
  timeoutMs: number;
}

const PROMOTE_TIMEOUT_MS = 10_000;

export function registerFailoverCommand(program: Command): Command {
  return program
    .command('failover')
    .description(
      "promote a shard's most advanced in-sync standby (--force: any standby, saying what is lost)",
    )
    .argument('<shard>', 'the shard: its node name or index in the topology')
    .addOption(
      new Option('--topology <file>', 'cluster description (cluster/README.md)').env('STALKD_TOPOLOGY'),
    )
    .addOption(new Option('--nodes <list>', 'nodes as HOST:PORT[,NAME=HOST:PORT…]').env('STALKD_NODES'))
    .addOption(
      new Option('--force', 'promote the most advanced standby even if none is in sync').default(false),
    )
    .addOption(new Option('--shard-token <token>', 'x-auth token of the shard').env('STALKD_SHARD_TOKEN'))
    .addOption(new Option('--timeout-ms <ms>', 'per member').argParser(Number).default(2000))
    .action(async (shard: string, opts: FailoverCommandOptions) => {
      process.exitCode = await runFailover(shard, opts, (line) => process.stdout.write(`${line}\n`));
    });
}

interface Answer {
  member: TopologyMember;
  role: MemberRole | null;
}

function describe(a: Answer): string {
  const r = a.role;
  if (!r) return `  ${memberAddress(a.member)}  no answer`;
  const sync = r.role === MemberRoleName.Standby ? (r.inSync ? ' in sync' : ' NOT in sync') : '';
  return `  ${memberAddress(a.member)}  ${r.role} term ${r.term}, log at term ${r.lastTerm} LSN ${r.lastLsn}${sync}`;
}

/**
 * A proxy that cannot promote (e.g. `NOT_FENCED`: too few peers answer) tries again at every look,
 * each time at a higher term, so the operator's x-promote may come just after one of those tries
 * (`TERM_NOT_HIGHER`) or find the member in the middle of one (`candidate`, no standby to choose).
 * The roles are asked again — after RACE_PAUSE_MS when a try was under way — and the promotion
 * retried at the new highest term, this many times in all.
 */
const ATTEMPTS = 10;
const RACE_PAUSE_MS = 200;

/** Exit code: 0 promoted, 1 refused or failed, 2 no such shard. */
export async function runFailover(
  shardName: string,
  opts: FailoverCommandOptions,
  print: (line: string) => void,
): Promise<number> {
  const topology = topologyFromOptions(opts);
  const node = topology.nodes.find((n) => n.name === shardName || String(n.index) === shardName);
  if (!node) {
    print(`no shard "${shardName}" in the topology`);
    return 2;
  }
  const members = shardMembers(node);
  let firstPrimaryTerm: number | undefined;
  const said = { warning: false };
  for (let attempt = 1; ; attempt++) {
    const answers: Answer[] = await Promise.all(
      members.map(async (member) => ({ member, role: await askMemberRole(member, opts.timeoutMs) })),
    );
    const primaryTerm = highestPrimaryTerm(answers);
    firstPrimaryTerm ??= primaryTerm;
    if (primaryTerm > firstPrimaryTerm) {
      print(`shard ${node.name} has a new primary at term ${primaryTerm} (promoted meanwhile): nothing done`);
      return 1;
    }
    if (attempt === 1) {
      print(`shard ${node.name}:`);
      for (const a of answers) print(describe(a));
    }
    const outcome = await promoteOnce(answers, opts, print, said);
    if (outcome === 'promoted' || outcome === 'refused' || attempt === ATTEMPTS)
      return outcome === 'promoted' ? 0 : 1;
    if (outcome === 'raced') {
      print('another promotion attempt raised the term meanwhile (a proxy trying): asking again');
    } else {
      print('a promotion is under way (a member is candidate): asking again shortly');
      await new Promise((resolve) => setTimeout(resolve, RACE_PAUSE_MS));
    }
  }
}

/** The highest term a member answering as primary has, or 0. */
function highestPrimaryTerm(answers: readonly Answer[]): number {
  return Math.max(0, ...answers.map((a) => (a.role?.role === MemberRoleName.Primary ? a.role.term : 0)));
}

/**
 * Chooses the standby and sends x-promote once: promoted, refused, raced (TERM_NOT_HIGHER), or
 * under way (nothing to choose while a member is candidate).
 */
async function promoteOnce(
  answers: Answer[],
  opts: FailoverCommandOptions,
  print: (line: string) => void,
  /** The loss warning is printed once, before the first x-promote. */
  said: { warning: boolean },
): Promise<'promoted' | 'refused' | 'raced' | 'under way'> {
  const standbys = answers
    .filter((a): a is { member: TopologyMember; role: MemberRole } => a.role?.role === MemberRoleName.Standby)
    .sort((x, y) => compareLogs(x.role, y.role));
  const inSync = standbys.filter((a) => a.role.inSync);
  const chosen = opts.force ? standbys[0] : inSync[0];
  if (!chosen) {
    if (answers.some((a) => a.role?.role === MemberRoleName.Candidate)) return 'under way';
    print(
      standbys.length === 0
        ? 'no standby answers: nothing to promote'
        : 'no standby is in sync: a promotion can lose confirmed changes; run again with --force to accept that',
    );
    return 'refused';
  }
  if (opts.force && !said.warning) {
    said.warning = true;
    const warning = lossWarning(chosen, answers);
    if (warning) print(warning);
  }
  const term = Math.max(...answers.map((a) => a.role?.term ?? 0)) + 1;
  const address = memberAddress(chosen.member);
  print(`promoting ${address} at term ${term}${opts.force ? ' (forced)' : ''}`);
  const reply = await promoteMember(chosen.member, term, opts.force, opts.shardToken, PROMOTE_TIMEOUT_MS);
  print(`${address}: ${reply ?? 'no answer'}`);
  if (reply?.startsWith('PROMOTED ')) return 'promoted';
  return reply?.startsWith('TERM_NOT_HIGHER ') ? 'raced' : 'refused';
}

/**
 * What a forced promotion of `chosen` gives up, as far as the members' answers tell, or undefined
 * when nothing can be lost (it is in sync and every other member answered: the fence it skips
 * would have found nothing more advanced).
 */
function lossWarning(
  chosen: { member: TopologyMember; role: MemberRole },
  answers: Answer[],
): string | undefined {
  const address = memberAddress(chosen.member);
  const from = `LSN ${chosen.role.lastLsn} (term ${chosen.role.lastTerm})`;
  if (chosen.role.inSync) {
    const silent = answers.filter((a) => !a.role).map((a) => memberAddress(a.member));
    if (silent.length === 0) return undefined;
    return `WARNING: ${address} is in sync, but ${silent.join(', ')} ${silent.length === 1 ? 'does' : 'do'} not answer: a change the former primary confirmed after ${from} that reached only members that do not answer is lost (the fence round that would compare their logs is skipped).`;
  }
  const primary = answers.find((a) => a.role?.role === MemberRoleName.Primary);
  if (!primary?.role) {
    return `WARNING: ${address} is not in sync. Every change the former primary confirmed after ${from} is lost; the primary does not answer, so how many is unknown.`;
  }
  const lost = Math.max(0, primary.role.confirmedLsn - chosen.role.lastLsn);
  return `WARNING: ${address} is not in sync. The primary ${memberAddress(primary.member)} has confirmed up to LSN ${primary.role.confirmedLsn}: ${lost} log records after ${from} are lost (the primary steps down and drops them when it follows).`;
}
