/**
 * Plays every test/transcripts/*.t case against each target: stalkd's node (fake clock) as 1.13
 * and with `--compat 1.12` (the cases' 1.12 expectations) and, when Debian's beanstalkd is
 * installed, the real beanstalkd — the reference decides what is right.
 * Each case gets a fresh server. Fake-clock cases are not played on the reference (no injectable
 * clock); single-server cases are not played on multi-server targets.
 *
 * TRANSCRIPT_TARGETS=reference (comma list of target name prefixes) narrows the targets.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nodeKind, nodeKindFor } from '../support/node-target';
import { referenceVersion } from '../support/reference';
import { parseTranscript, type TranscriptCase } from '../support/transcript';
import { playCase } from '../support/transcript-player';
import { referenceKind, type TargetKind } from '../support/transcript-targets';

// Compiled to dist/test/; the .t files stay in the source tree.
const TRANSCRIPT_DIR = join(__dirname, '..', '..', '..', 'test', 'transcripts');

const files = readdirSync(TRANSCRIPT_DIR)
  .filter((f) => f.endsWith('.t'))
  .sort()
  .map((f) => parseTranscript(f, readFileSync(join(TRANSCRIPT_DIR, f), 'utf8')));

const kinds: TargetKind[] = [nodeKind, nodeKindFor('1.12')];
const refVersion = referenceVersion();
if (refVersion) kinds.push(referenceKind(refVersion));
else console.log('transcripts: the reference run needs beanstalkd (apt-get install beanstalkd); not played');

const only = process.env.TRANSCRIPT_TARGETS?.split(',');
const selected = only ? kinds.filter((k) => only.some((prefix) => k.name.startsWith(prefix))) : kinds;

function playable(kind: TargetKind, c: TranscriptCase): boolean {
  return (kind.fakeClock || !c.needsFakeClock) && (kind.singleServer || !c.singleServerOnly);
}

for (const kind of selected) {
  const all = files.flatMap((f) => f.cases);
  const skipped = all.filter((c) => !playable(kind, c)).length;
  if (skipped > 0)
    console.log(`transcripts: ${kind.name}: ${skipped} of ${all.length} cases need what it lacks`);
  describe(`transcripts on ${kind.name}`, () => {
    for (const file of files) {
      const area = file.name.replace(/\.t$/, '');
      for (const c of file.cases.filter((x) => playable(kind, x))) {
        test(`${area}: ${c.name}`, async () => {
          const target = await kind.start(c.args);
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
