/** stalkd's own version (x-hello, -v, build info). Kept in step with package.json by a test. */
export const STALKD_VERSION = '0.1.0';
