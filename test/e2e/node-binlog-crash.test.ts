/**
 * Issue 13's crash test through the real server (test/support/crash-harness.ts): `stalkd node -b DIR`
 * under 8 connections of mixed traffic, SIGKILLed at a random moment with puts in flight (one round
 * in four during a clean stop it had just begun) and restarted on the same directory; the ledger is
 * checked after every restart and during the traffic that follows. -f 0 twenty times (two series of
 * ten on fresh directories, which keeps the queue and so every probe small); -f 50 and -F, which
 * promise the same for a crash of the process, five times each.
 *
 * STALKD_CRASH_SEED=n replays a seed printed by a failure; STALKD_CRASH_VERBOSE=1 prints every
 * restart. The long run: bench/crash-soak.ts.
 */
import { describe, it } from 'node:test';
import { expectNoViolations } from '../support/crash-harness';
import { nodeTarget } from '../support/crash-targets';

describe('node binlog crash', () => {
  const runs: [string[], number, number][] = [
    [['-f', '0'], 20, 10],
    [['-f', '50'], 5, 5],
    [['-F'], 5, 5],
  ];
  for (const [mode, kills, series] of runs) {
    it(`crash: ${kills} SIGKILLs of stalkd node ${mode.join(' ')} under mixed traffic: no id twice, nothing acknowledged lost`, {
      timeout: 300_000,
    }, async () => {
      await expectNoViolations(() => nodeTarget(mode), kills, series);
    });
  }
});
