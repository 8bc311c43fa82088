/**
 * The node transcript suite played through the proxy in front of 3 servers: stalkd nodes (fake
 * clock shared by all three; the proxy as 1.13 and with `--compat 1.12`, which restyles the nodes'
 * 1.13 stats) and Debian's beanstalkd (the proxy with the reference's version). Every tube a case names is pinned to a
 * different node than `default` (round-robin), so cases that use several tubes cross nodes. Ids
 * are symbols in transcripts, so the proxy's renumbering is invisible; single-server cases are
 * skipped. PROXY_TRANSCRIPTS=stalkd|reference narrows the runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ProxyBackendKind, spreadPins, startProxyTarget } from '../support/proxy-target';
import { referenceVersion } from '../support/reference';
import { parseTranscript, type TranscriptCase } from '../support/transcript';
import { playCase } from '../support/transcript-player';

const TRANSCRIPT_DIR = join(__dirname, '..', '..', '..', 'test', 'transcripts');

const files = readdirSync(TRANSCRIPT_DIR)
  .filter((f) => f.endsWith('.t'))
  .sort()
  .map((f) => parseTranscript(f, readFileSync(join(TRANSCRIPT_DIR, f), 'utf8')));

const refVersion = referenceVersion();
const kinds: Array<{ kind: ProxyBackendKind; version: '1.12' | '1.13' }> = [
  { kind: 'stalkd', version: '1.13' },
  { kind: 'stalkd', version: '1.12' },
];
if (refVersion) kinds.push({ kind: 'reference', version: refVersion === '1.12' ? '1.12' : '1.13' });
const only = process.env.PROXY_TRANSCRIPTS;

/**
 * Known, documented differences of the proxy (docs/proxy.md, "Differences through the proxy"), by
 * case name and node kind.
 */
const DIFFERENCES: Record<string, { kinds: ProxyBackendKind[]; reason: string }> = {
  "list-tubes: a removed tube's slot is taken by the last tube": {
    kinds: ['stalkd', 'reference'],
    reason: 'list-tubes is the union in node order; creation order across nodes is unknown',
  },
  'ignore answers the remaining count; the last watched tube cannot be ignored': {
    kinds: ['stalkd', 'reference'],
    reason: 'list-tubes is the union in node order; creation order across nodes is unknown',
  },
};

function playable(kind: ProxyBackendKind, c: TranscriptCase): boolean {
  if (DIFFERENCES[c.name]?.kinds.includes(kind)) return false;
  return !c.singleServerOnly && (kind === 'stalkd' || !c.needsFakeClock);
}

for (const { kind, version } of kinds.filter((k) => !only || k.kind === only)) {
  const compat = version === '1.13' ? '' : ` --compat ${version}`;
  describe(`transcripts through the proxy${compat} over 3 ${kind}`, () => {
    for (const file of files) {
      const area = file.name.replace(/\.t$/, '');
      for (const c of file.cases.filter((x) => playable(kind, x))) {
        test(`${area}: ${c.name}`, async () => {
          const target = await startProxyTarget(kind, version, c.args, spreadPins(c));
          try {
            await playCase(target, c);
          } finally {
            await target.stop();
          }
        });
      }
    }
  });
}
