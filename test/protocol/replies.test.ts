/** Reply lines with numbers, written digit by digit. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { numbersLine } from '../../src/protocol/replies';

test('replies: numbersLine writes the same bytes as the text, for 1 to 3 numbers up to 2^53 − 1', () => {
  const word = Buffer.from('RESERVED', 'latin1');
  const samples = [0, 1, 9, 10, 99, 100, 65535, 2 ** 31 - 1, 2 ** 31, 4294967295, 2 ** 32, 1e15 + 7];
  samples.push(Number.MAX_SAFE_INTEGER);
  for (const a of samples) {
    assert.equal(numbersLine(word, a).toString('latin1'), `RESERVED ${a}\r\n`);
    for (const b of [0, 100, 65535]) {
      assert.equal(numbersLine(word, a, b).toString('latin1'), `RESERVED ${a} ${b}\r\n`);
      assert.equal(
        numbersLine(word, a, b, 4294967295).toString('latin1'),
        `RESERVED ${a} ${b} 4294967295\r\n`,
      );
      assert.equal(numbersLine(word, b, a, 0).toString('latin1'), `RESERVED ${b} ${a} 0\r\n`);
    }
  }
});
