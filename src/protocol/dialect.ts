/**
 * The beanstalkd release whose protocol details a server reproduces (`--compat`). 1.13 is the
 * default; 1.12 (still Debian 12's beanstalkd) differs in two ways clients can see:
 *
 * - string values in `stats`, `stats-tube` and `stats-job` (`hostname`, `os`, `platform`, `name`,
 *   `tube`) are unquoted (`name: default`; 1.13: `name: "default"`). `version` is quoted by both;
 * - `reserve-with-timeout` reads its number with strtol (commands.ts): junk reads as 0, a sign is
 *   allowed and a negative timeout waits forever; 1.13 answers those BAD_FORMAT.
 */
export const DIALECTS = ['1.12', '1.13'] as const;
export type Dialect = (typeof DIALECTS)[number];

export const DEFAULT_DIALECT: Dialect = '1.13';

export function isDialect(text: string): text is Dialect {
  return (DIALECTS as readonly string[]).includes(text);
}
