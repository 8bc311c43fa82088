/**
 * Opening, closing and promisifying the three third-party clients for compat-clients.test.ts,
 * plus matchers for the way each reports a non-success reply.
 */
import { once } from 'node:events';
import { client as FiveBeansClient } from 'fivebeans';
import JackdClient from 'jackd';
import { Client as NodeBeanstalkClient, type Serializer } from 'node-beanstalk';
import type { ClientServer } from './client-targets';

// ---- fivebeans: callbacks, errors are reply words, ids and counts are strings -------------------

export class ReplyWord extends Error {
  constructor(readonly word: unknown) {
    super(String(word));
  }
}

export function fb<R extends unknown[]>(
  run: (cb: (err: unknown, ...results: R) => void) => void,
): Promise<R> {
  return new Promise((resolve, reject) => {
    run((err, ...results) => (err ? reject(new ReplyWord(err)) : resolve(results)));
  });
}

export const word = (expected: string) => (err: unknown) => err instanceof ReplyWord && err.word === expected;

export async function openFiveBeans(server: ClientServer): Promise<FiveBeansClient> {
  const c = new FiveBeansClient(server.host, server.port);
  const connected = once(c, 'connect');
  c.connect();
  await connected;
  return c;
}

export async function closeFiveBeans(c: FiveBeansClient): Promise<void> {
  const closed = once(c, 'close');
  c.end();
  await closed;
}

// ---- jackd: promises, ids are strings, non-success words reject as Error(word) -------------------

export async function openJackd(server: ClientServer): Promise<JackdClient> {
  const c = new JackdClient();
  await c.connect({ host: server.host, port: server.port });
  return c;
}

export async function closeJackd(c: JackdClient): Promise<void> {
  const closed = once(c.socket, 'close');
  await c.quit();
  await closed;
}

export const errorMessage = (expected: string) => (err: unknown) =>
  err instanceof Error && err.message === expected;

// ---- node-beanstalk: promises, ids are numbers, serializer on payloads --------------------------

/** Bodies as bytes in both directions (the default serializer is JSON). */
export const bytesSerializer: Serializer = {
  serialize: (data: unknown) => (Buffer.isBuffer(data) ? data : Buffer.from(String(data))),
  deserialize: (buffer: Buffer) => buffer,
};

/** `serializer: null` keeps the library's default (JSON). */
export async function openNodeBeanstalk(
  server: ClientServer,
  serializer: Serializer | null = bytesSerializer,
): Promise<NodeBeanstalkClient> {
  const options = { host: server.host, port: server.port };
  const c = new NodeBeanstalkClient(serializer === null ? options : { ...options, serializer });
  await c.connect();
  return c;
}

export const closeNodeBeanstalk = (c: NodeBeanstalkClient): Promise<void> => c.disconnect();
