/**
 * Minimal types for fivebeans 1.5.0 (ships none): the client's beanstalkd commands as used by the
 * compat tests. Callbacks get `(err, ...results)`; on a non-success reply `err` is the reply word
 * (`'NOT_FOUND'`, `'TIMED_OUT'`, …) and ids/counts arrive as strings.
 */
declare module 'fivebeans' {
  import { EventEmitter } from 'node:events';

  type Err = string | Error | null;
  type Done = (err: Err) => void;
  type JobCallback = (err: Err, id: string, payload: Buffer) => void;
  type YamlCallback<T> = (err: Err, value: T) => void;

  export class client extends EventEmitter {
    constructor(host?: string, port?: number);
    connect(): void;
    end(): void;
    use(tube: string, cb: (err: Err, tube: string) => void): void;
    list_tube_used(cb: (err: Err, tube: string) => void): void;
    put(
      pri: number,
      delay: number,
      ttr: number,
      payload: Buffer | string,
      cb: (err: Err, id: string) => void,
    ): void;
    watch(tube: string, cb: (err: Err, count: string) => void): void;
    ignore(tube: string, cb: (err: Err, count: string) => void): void;
    reserve(cb: JobCallback): void;
    reserve_with_timeout(secs: number, cb: JobCallback): void;
    destroy(id: string, cb: Done): void;
    release(id: string, pri: number, delay: number, cb: Done): void;
    bury(id: string, pri: number, cb: Done): void;
    touch(id: string, cb: Done): void;
    kick(bound: number, cb: (err: Err, count: string) => void): void;
    kick_job(id: string, cb: Done): void;
    peek(id: string, cb: JobCallback): void;
    peek_ready(cb: JobCallback): void;
    peek_delayed(cb: JobCallback): void;
    peek_buried(cb: JobCallback): void;
    pause_tube(tube: string, delay: number, cb: Done): void;
    list_tubes(cb: YamlCallback<unknown[]>): void;
    list_tubes_watched(cb: YamlCallback<unknown[]>): void;
    stats(cb: YamlCallback<Record<string, unknown>>): void;
    stats_tube(tube: string, cb: YamlCallback<Record<string, unknown>>): void;
    stats_job(id: string, cb: YamlCallback<Record<string, unknown>>): void;
    quit(cb: Done): void;
  }
  export const LOWEST_PRIORITY: number;
}
