/**
 * Issue 13's crash test through the proxy (test/support/crash-harness.ts): `stalkd proxy` in front of
 * three `stalkd node -b DIR -f 0`, the 8 connections of mixed traffic going through the proxy (its
 * reserve across nodes uses x-reserve-wait / x-unreserve on the nodes), one node SIGKILLed at a
 * random moment each round and restarted on its directory and port. Ids through the proxy must
 * stay unique and every acknowledged change must survive, as with one node.
 *
 * STALKD_CRASH_SEED=n replays a seed printed by a failure; STALKD_CRASH_VERBOSE=1 prints every restart.
 */
import { describe, it } from 'node:test';
import { expectNoViolations } from '../support/crash-harness';
import { clusterTarget } from '../support/crash-targets';

const KILLS = 8;

describe('cluster binlog crash', () => {
  it(`crash: ${KILLS} SIGKILLs of one node behind the proxy: ids stay unique, nothing acknowledged lost`, {
    timeout: 300_000,
  }, async () => {
    await expectNoViolations(() => clusterTarget(['-f', '0']), KILLS);
  });
});
