/**
 * Crash test at the binlog level (see support/binlog-crash.ts): 24 SIGKILLs of a process logging
 * from 8 concurrent writers in -f 0. The same test through the real server comes with `stalkd node`;
 * bench/binlog-soak.ts runs the long version.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crashRounds } from '../support/binlog-crash';
import { tempDir } from '../support/binlog-fixtures';

const KILLS = 24;

describe('binlog crash', () => {
  it(`crash: ${KILLS} SIGKILLs under concurrent load lose no acknowledged put or delete`, async () => {
    const totals = await crashRounds(tempDir(), KILLS);
    assert.equal(totals.kills, KILLS);
    assert.ok(totals.puts > KILLS * 20, `only ${totals.puts} puts were acknowledged`);
    assert.ok(totals.deletes > 0);
  });
});
