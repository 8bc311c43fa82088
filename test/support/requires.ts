/**
 * Tests that need an external program (Debian's beanstalkd, Prometheus, Chromium, openssl…). When
 * it is present the test is registered as usual. When it is missing: under CI (which installs
 * everything, see .ci/run) that is a failure; on a developer's machine the test is not registered
 * and one note says what to install. Nothing is ever reported as skipped.
 */
import assert from 'node:assert/strict';
import test from 'node:test';

export function whenInstalled(present: boolean, what: string, register: () => void): void {
  if (present) {
    register();
    return;
  }
  if (process.env.CI) {
    test(`${what} is installed (CI installs it in .ci/run)`, () => assert.fail(`${what} is missing`));
    return;
  }
  console.log(`# ${what} is not installed here: the tests that need it are not run`);
}
