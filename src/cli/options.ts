/** Parsers for command-line values, shared by the subcommands; errors name the flag. */
import { InvalidArgumentError } from 'commander';
import { MAX_PORT } from '../net/limits';

export function parseInteger(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected ${min}..${max}, got ${value}`);
    return n;
  };
}

export const parsePort = parseInteger(0, MAX_PORT);

/** Repeatable flag counter (`-V -V` or `-VV`). */
export function increase(_value: string, previous: number): number {
  return previous + 1;
}
