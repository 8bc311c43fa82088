/**
 * One decoder per reply grammar: turns a parsed reply into the command's typed result, or throws
 * ProtocolError for a reply the caller should not have to branch on (see client.ts). Decoders
 * are top-level functions shared by all requests, so a request carries no closure of its own.
 */

import type { Reply } from '../protocol/reply-parser';
import {
  convertStats,
  JOB_STATS_FIELDS,
  type JobStats,
  SERVER_STATS_FIELDS,
  type ServerStats,
  TUBE_STATS_FIELDS,
  type TubeStats,
} from '../protocol/stats';
import { parseYamlList, parseYamlMap, YamlFormatError } from '../protocol/yaml';
import { ProtocolError } from './errors';

/** A job as `reserve`/`peek` return it. `body` is the caller's own copy. */
export interface Job {
  id: number;
  body: Buffer;
}

export type Decoder<T> = (reply: Reply, command: string) => T;

function unexpected(reply: Reply, command: string): ProtocolError {
  return new ProtocolError(command, reply.word, reply.line);
}

/** Parses a decimal count or id token; ids stay below 2^53 by the stated contract. */
function parseNumber(text: string | undefined, reply: Reply, command: string): number {
  if (text === undefined || !/^\d{1,16}$/.test(text)) throw unexpected(reply, command);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw unexpected(reply, command);
  return n;
}

/** `<WORD> <n>` with exactly one number. */
function singleNumber(reply: Reply, command: string, word: string): number {
  const line = reply.line;
  if (line.length <= word.length + 1 || line.charCodeAt(word.length) !== 32) throw unexpected(reply, command);
  return parseNumber(line.slice(word.length + 1), reply, command);
}

function decodeJob(reply: Reply, command: string): Job {
  const tokens = reply.line.split(' ');
  const id = parseNumber(tokens[1], reply, command);
  if (reply.body === undefined) throw unexpected(reply, command);
  return { id, body: reply.body };
}

function yamlText(reply: Reply, command: string): string {
  if (reply.body === undefined) throw unexpected(reply, command);
  return reply.body.toString('utf8');
}

function withYaml<T>(reply: Reply, command: string, parse: (text: string) => T): T {
  try {
    return parse(yamlText(reply, command));
  } catch (err) {
    if (err instanceof YamlFormatError) {
      throw new ProtocolError(command, reply.word, `${reply.line} (${err.message})`);
    }
    throw err;
  }
}

export const decodeInserted: Decoder<number> = (reply, command) => {
  if (reply.word === 'INSERTED') return singleNumber(reply, command, 'INSERTED');
  if (reply.word === 'BURIED' && reply.line !== 'BURIED') {
    throw new ProtocolError(command, 'BURIED', reply.line, singleNumber(reply, command, 'BURIED'));
  }
  throw unexpected(reply, command);
};

export const decodeUsing: Decoder<string> = (reply, command) => {
  if (reply.word !== 'USING' || reply.line.length <= 6) throw unexpected(reply, command);
  return reply.line.slice(6);
};

export const decodeReserve: Decoder<Job | 'DEADLINE_SOON'> = (reply, command) => {
  if (reply.word === 'RESERVED') return decodeJob(reply, command);
  if (reply.line === 'DEADLINE_SOON') return 'DEADLINE_SOON';
  throw unexpected(reply, command);
};

export const decodeReserveWithTimeout: Decoder<Job | 'DEADLINE_SOON' | 'TIMED_OUT'> = (reply, command) => {
  if (reply.line === 'TIMED_OUT') return 'TIMED_OUT';
  return decodeReserve(reply, command);
};

export const decodeReserveJob: Decoder<Job | 'NOT_FOUND'> = (reply, command) => {
  if (reply.word === 'RESERVED') return decodeJob(reply, command);
  if (reply.line === 'NOT_FOUND') return 'NOT_FOUND';
  throw unexpected(reply, command);
};

/** A decoder accepting exactly the given bare reply words. */
function words<W extends string>(...allowed: W[]): Decoder<W> {
  const set: ReadonlySet<string> = new Set(allowed);
  return (reply, command) => {
    if (set.has(reply.line)) return reply.line as W;
    throw unexpected(reply, command);
  };
}

export const decodeDelete = words('DELETED', 'NOT_FOUND');
export const decodeRelease = words('RELEASED', 'BURIED', 'NOT_FOUND');
export const decodeBury = words('BURIED', 'NOT_FOUND');
export const decodeTouch = words('TOUCHED', 'NOT_FOUND');
export const decodeKickJob = words('KICKED', 'NOT_FOUND');
export const decodePauseTube = words('PAUSED', 'NOT_FOUND');

export const decodeWatching: Decoder<number> = (reply, command) => {
  if (reply.word !== 'WATCHING') throw unexpected(reply, command);
  return singleNumber(reply, command, 'WATCHING');
};

export const decodeIgnore: Decoder<number | 'NOT_IGNORED'> = (reply, command) => {
  if (reply.line === 'NOT_IGNORED') return 'NOT_IGNORED';
  return decodeWatching(reply, command);
};

export const decodePeek: Decoder<Job | null> = (reply, command) => {
  if (reply.word === 'FOUND') return decodeJob(reply, command);
  if (reply.line === 'NOT_FOUND') return null;
  throw unexpected(reply, command);
};

export const decodeKicked: Decoder<number> = (reply, command) => {
  if (reply.word !== 'KICKED') throw unexpected(reply, command);
  return singleNumber(reply, command, 'KICKED');
};

export const decodeServerStats: Decoder<ServerStats> = (reply, command) => {
  if (reply.word !== 'OK') throw unexpected(reply, command);
  return withYaml(reply, command, (text) => convertStats(parseYamlMap(text), SERVER_STATS_FIELDS));
};

export const decodeTubeStats: Decoder<TubeStats | null> = (reply, command) => {
  if (reply.line === 'NOT_FOUND') return null;
  if (reply.word !== 'OK') throw unexpected(reply, command);
  return withYaml(reply, command, (text) => convertStats(parseYamlMap(text), TUBE_STATS_FIELDS));
};

export const decodeJobStats: Decoder<JobStats | null> = (reply, command) => {
  if (reply.line === 'NOT_FOUND') return null;
  if (reply.word !== 'OK') throw unexpected(reply, command);
  return withYaml(reply, command, (text) => convertStats(parseYamlMap(text), JOB_STATS_FIELDS));
};

export const decodeList: Decoder<string[]> = (reply, command) => {
  if (reply.word !== 'OK') throw unexpected(reply, command);
  return withYaml(reply, command, parseYamlList);
};

export const decodeRaw: Decoder<Reply> = (reply) => reply;
