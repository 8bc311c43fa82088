/**
 * Replies as the proxy sends them to clients: prebuilt words, and node replies with job ids
 * rewritten from node-local to client ids (job-id.ts). A reply is a list of buffers written in one
 * cork/uncork: the line, then for RESERVED/FOUND/OK the data and its CRLF.
 */
import { encodeJobId } from './job-id';
import type { NodeReply } from './reply-reader';

export type ReplyParts = Buffer[];

const CRLF = Buffer.from('\r\n');

function word(text: string): ReplyParts {
  return [Buffer.from(`${text}\r\n`, 'latin1')];
}

export const Reply = {
  BAD_FORMAT: word('BAD_FORMAT'),
  UNKNOWN_COMMAND: word('UNKNOWN_COMMAND'),
  JOB_TOO_BIG: word('JOB_TOO_BIG'),
  EXPECTED_CRLF: word('EXPECTED_CRLF'),
  INTERNAL_ERROR: word('INTERNAL_ERROR'),
  NOT_FOUND: word('NOT_FOUND'),
  NOT_IGNORED: word('NOT_IGNORED'),
  TIMED_OUT: word('TIMED_OUT'),
  DEADLINE_SOON: word('DEADLINE_SOON'),
  DRAINING: word('DRAINING'),
} as const;

export function lineReply(text: string): ReplyParts {
  return word(text);
}

/** `OK <n>` + YAML body, n = body length without the final CRLF. */
export function yamlReply(body: string): ReplyParts {
  const data = Buffer.from(body, 'latin1');
  return [Buffer.from(`OK ${data.length}\r\n`, 'latin1'), data, CRLF];
}

/** `---\n- a\n- b\n`: beanstalkd's list form, names never quoted. */
export function yamlList(names: Iterable<string>): string {
  let out = '---\n';
  for (const name of names) out += `- ${name}\n`;
  return out;
}

/** A node's reply passed through unchanged (words like DELETED, TOUCHED, KICKED n, USING x). */
export function passThrough(reply: NodeReply): ReplyParts {
  const head = Buffer.from(`${reply.line}\r\n`, 'latin1');
  return reply.data ? [head, reply.data, CRLF] : [head];
}

/**
 * Rewrites the id in `INSERTED <id>`, `BURIED <id>`, `RESERVED <id> <bytes>[ <pri>]` and
 * `FOUND <id> <bytes>` (the pri of the stalkd extension is dropped: clients never see it).
 * Returns null when the node id cannot be expressed below 2^53. Hot path: one reply per
 * forwarded command, so no splitting or regular expressions.
 */
export function withClientId(reply: NodeReply, nodeIndex: number): ReplyParts | null {
  const line = reply.line;
  const sp = line.indexOf(' ');
  if (sp < 0) return passThrough(reply);
  const word0 = line.slice(0, sp);
  const withBytes = word0 === 'RESERVED' || word0 === 'FOUND';
  if (!withBytes && word0 !== 'INSERTED' && word0 !== 'BURIED') return passThrough(reply);
  const sp2 = line.indexOf(' ', sp + 1);
  if (withBytes && sp2 < 0) return passThrough(reply);
  const clientId = encodeJobId(nodeIndex, Number(sp2 < 0 ? line.slice(sp + 1) : line.slice(sp + 1, sp2)));
  if (clientId === null) return null;
  let head: string;
  if (withBytes) {
    const sp3 = line.indexOf(' ', sp2 + 1);
    head = `${word0} ${clientId} ${sp3 < 0 ? line.slice(sp2 + 1) : line.slice(sp2 + 1, sp3)}\r\n`;
  } else head = `${word0} ${clientId}\r\n`;
  const headBuf = Buffer.from(head, 'latin1');
  return reply.data ? [headBuf, reply.data, CRLF] : [headBuf];
}

/** stats-job YAML: rewrites the `id: N` line and recomputes `OK <n>`. */
export function statsJobWithClientId(reply: NodeReply, nodeIndex: number): ReplyParts | null {
  if (!reply.data || !reply.line.startsWith('OK ')) return passThrough(reply);
  const text = reply.data.toString('latin1');
  const match = /^id: (\d+)$/m.exec(text);
  if (!match?.[1]) return passThrough(reply);
  const clientId = encodeJobId(nodeIndex, Number(match[1]));
  if (clientId === null) return null;
  return yamlReply(text.replace(/^id: \d+$/m, `id: ${clientId}`));
}

/** Parses `key: value` YAML lines (stats, stats-tube, stats-job) into an ordered map. */
export function parseYamlMap(data: Buffer): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of data.toString('latin1').split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) map.set(line.slice(0, colon), line.slice(colon + 2));
  }
  return map;
}

/** Parses a YAML list (`- name` lines). */
export function parseYamlList(data: Buffer): string[] {
  const names: string[] = [];
  for (const line of data.toString('latin1').split('\n')) {
    if (line.startsWith('- ')) names.push(line.slice(2));
  }
  return names;
}
