/** Replication: the member state file survives as written and refuses damage instead of resetting. */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { newId, readState, STATE_FILE, StateFileError, writeState } from '../../src/replication/state-file';
import { tempDir } from '../support/binlog-fixtures';

describe('replication state file', () => {
  test('state file: absent → undefined; written → read back; rewritten in place without leftovers', () => {
    const dir = tempDir();
    assert.equal(readState(dir), undefined);
    const state = { shard: newId(), member: newId(), term: 3, primaryTerm: 2 };
    writeState(dir, state);
    assert.deepEqual(readState(dir), state);
    writeState(dir, { ...state, term: 4 });
    assert.equal(readState(dir)?.term, 4);
    assert.deepEqual(readdirSync(dir), [STATE_FILE]);
  });

  test('state file: damaged contents are an error that names the file', () => {
    const dir = tempDir();
    for (const text of ['{not json', '{"shard":"x","member":"y","term":-1,"primaryTerm":0}']) {
      writeFileSync(path.join(dir, STATE_FILE), text);
      assert.throws(
        () => readState(dir),
        (err: unknown) => err instanceof StateFileError && err.message.includes(STATE_FILE),
      );
    }
  });
});
