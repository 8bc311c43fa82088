/**
 * Issue 13's crash harness against a replicated shard (issue 16): a primary and one synchronous
 * standby under 8 connections of mixed traffic; each round SIGKILLs the primary or the standby at a
 * random moment with puts in flight (one round in four after a SIGTERM); a killed primary is
 * replaced by promoting the standby or restarted. The ledger finds nothing acknowledged lost, no
 * deleted job back, no id handed out twice.
 */
import { describe, it } from 'node:test';
import { crashSeed, expectNoViolations } from '../support/crash-harness';
import { shardTarget } from '../support/crash-shard';

describe('shard crash', () => {
  it('crash: 8 SIGKILLs of a shard member (-f 0) under mixed traffic: nothing lost, resurrected or reused', {
    timeout: 300_000,
  }, async () => {
    const seed = crashSeed();
    let target: ReturnType<typeof shardTarget> | undefined;
    try {
      await expectNoViolations(() => {
        target = shardTarget(['-f', '0'], seed);
        return target;
      }, 8);
    } finally {
      console.log(`shard crash events: ${target?.events.join('; ')}`);
    }
  });
});
