/**
 * Node replies as the proxy passes them to clients: job ids rewritten from node-local to client
 * ids (job-id.ts), stats-tube/stats-job strings quoted as the proxy's dialect quotes them,
 * everything else unchanged. Hot path: one reply per forwarded command, so no splitting or
 * regular expressions on the common replies.
 */
import type { Dialect } from '../protocol/dialect';
import { numbersLine, okYaml, type ReplyBytes, replyBytes, restyleStats } from '../protocol/replies';
import { digitsValue, type Reply } from '../protocol/reply-parser';
import { JOB_STATS_FIELDS, TUBE_STATS_FIELDS } from '../protocol/stats';
import { encodeJobId } from './job-id';

const CRLF = Buffer.from('\r\n', 'latin1');

/** The reply words that carry an id, as bytes (numbersLine writes the digits after them). */
const INSERTED = Buffer.from('INSERTED', 'latin1');
const BURIED = Buffer.from('BURIED', 'latin1');
const RESERVED = Buffer.from('RESERVED', 'latin1');
const FOUND = Buffer.from('FOUND', 'latin1');

/**
 * Rewrites the id in `INSERTED <id>`, `BURIED <id>`, `RESERVED <id> <bytes>[ <pri>[ <createdUs>]]`
 * and `FOUND <id> <bytes>` (the fields of the stalkd extension are dropped: clients never see them).
 * Returns null when the node id cannot be expressed below 2^53.
 */
export function withClientId(reply: Reply, nodeIndex: number): ReplyBytes | null {
  const { word, line } = reply;
  const wordBytes = idWordBytes(word);
  if (wordBytes === null) return replyBytes(reply);
  const withBytes = wordBytes === RESERVED || wordBytes === FOUND;
  const sp = word.length;
  if (line.length <= sp) return replyBytes(reply); // bare BURIED (release, bury)
  const sp2 = line.indexOf(' ', sp + 1);
  if (withBytes && sp2 < 0) return replyBytes(reply);
  const clientId = encodeJobId(nodeIndex, digitsValue(line, sp + 1, sp2 < 0 ? line.length : sp2));
  if (clientId === null) return null;
  if (!withBytes) return numbersLine(wordBytes, clientId);
  const sp3 = line.indexOf(' ', sp2 + 1);
  // The reply parser checked the byte count: 1–10 digits.
  const bytes = digitsValue(line, sp2 + 1, sp3 < 0 ? line.length : sp3);
  const head = numbersLine(wordBytes, clientId, bytes);
  return reply.body ? [head, reply.body, CRLF] : head;
}

/** The bytes of a reply word that carries an id, else null (by length first: no string compare for most). */
function idWordBytes(word: string): Buffer | null {
  switch (word.length) {
    case 8:
      return word === 'INSERTED' ? INSERTED : word === 'RESERVED' ? RESERVED : null;
    case 6:
      return word === 'BURIED' ? BURIED : null;
    case 5:
      return word === 'FOUND' ? FOUND : null;
    default:
      return null;
  }
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
