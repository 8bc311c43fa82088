/**
 * Node replies as the proxy passes them to clients: job ids rewritten from node-local to client
 * ids (job-id.ts), stats-tube/stats-job strings quoted as the proxy's dialect quotes them,
 * everything else unchanged. Hot path: one reply per forwarded command, so no splitting or
 * regular expressions on the common replies.
 */
import type { Dialect } from '../protocol/dialect';
import { numbersLine, okYaml, type ReplyBytes, replyBytes, restyleStats } from '../protocol/replies';
import type { Reply } from '../protocol/reply-parser';
import { JOB_STATS_FIELDS, TUBE_STATS_FIELDS } from '../protocol/stats';
import { encodeJobId } from './job-id';

const CRLF = Buffer.from('\r\n', 'latin1');

/** The reply words that carry an id, as bytes (numbersLine writes the digits after them). */
const ID_WORDS = new Map<string, Buffer>(
  ['INSERTED', 'BURIED', 'RESERVED', 'FOUND'].map((w) => [w, Buffer.from(w, 'latin1')]),
);

/**
 * Rewrites the id in `INSERTED <id>`, `BURIED <id>`, `RESERVED <id> <bytes>[ <pri>[ <createdUs>]]`
 * and `FOUND <id> <bytes>` (the fields of the stalkd extension are dropped: clients never see them).
 * Returns null when the node id cannot be expressed below 2^53.
 */
export function withClientId(reply: Reply, nodeIndex: number): ReplyBytes | null {
  const { word, line } = reply;
  const withBytes = word === 'RESERVED' || word === 'FOUND';
  if (!withBytes && word !== 'INSERTED' && word !== 'BURIED') return replyBytes(reply);
  const sp = word.length;
  if (line.length <= sp) return replyBytes(reply); // bare BURIED (release, bury)
  const sp2 = line.indexOf(' ', sp + 1);
  if (withBytes && sp2 < 0) return replyBytes(reply);
  const clientId = encodeJobId(nodeIndex, Number(sp2 < 0 ? line.slice(sp + 1) : line.slice(sp + 1, sp2)));
  if (clientId === null) return null;
  const wordBytes = ID_WORDS.get(word) as Buffer;
  if (!withBytes) return numbersLine(wordBytes, clientId);
  const sp3 = line.indexOf(' ', sp2 + 1);
  // The reply parser checked the byte count: 1–10 digits.
  const bytes = Number(sp3 < 0 ? line.slice(sp2 + 1) : line.slice(sp2 + 1, sp3));
  const head = numbersLine(wordBytes, clientId, bytes);
  return reply.body ? [head, reply.body, CRLF] : head;
}

/** stats-job YAML: rewrites the `id: N` line, restyles `tube` (see restyleStats), recomputes `OK <n>`. */
export function statsJobWithClientId(reply: Reply, nodeIndex: number, dialect: Dialect): ReplyBytes | null {
  if (!reply.body || reply.word !== 'OK') return replyBytes(reply);
  const text = reply.body.toString('latin1');
  const match = /^id: (\d+)$/m.exec(text);
  if (!match?.[1]) return replyBytes(reply);
  const clientId = encodeJobId(nodeIndex, Number(match[1]));
  if (clientId === null) return null;
  return okYaml(restyleStats(text.replace(/^id: \d+$/m, `id: ${clientId}`), JOB_STATS_FIELDS, dialect));
}

/** stats-tube YAML with `name` quoted as `dialect` quotes it (the node may run another version). */
export function statsTubeAs(reply: Reply, dialect: Dialect): ReplyBytes {
  if (!reply.body || reply.word !== 'OK') return replyBytes(reply);
  return okYaml(restyleStats(reply.body.toString('latin1'), TUBE_STATS_FIELDS, dialect));
}
