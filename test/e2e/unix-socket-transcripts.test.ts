/**
 * Unix domain sockets (`-l unix:PATH`): the stats, put and reserve transcripts played over a
 * socket path against the stalkd node, the proxy listening on a socket in front of 3 nodes that
 * it reaches by their socket paths (stalkd, and Debian's beanstalkd), and beanstalkd itself on a
 * socket — the reference decides: `stats` on a socket has the same keys, order and formats as on
 * TCP (beanstalkd reports no address-dependent field; `hostname`, `id`, `os`, `platform` as ever).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { nodeKindFor } from '../support/node-target';
import { spreadPins, startProxyTarget } from '../support/proxy-target';
import { referenceVersion, startReference } from '../support/reference';
import { parseTranscript, type TranscriptCase } from '../support/transcript';
import { playCase } from '../support/transcript-player';
import type { Target } from '../support/transcript-targets';

const TRANSCRIPT_DIR = join(__dirname, '..', '..', '..', 'test', 'transcripts');
const FILES = ['stats.t', 'put.t', 'reserve.t'];

const files = FILES.map((f) => parseTranscript(f, readFileSync(join(TRANSCRIPT_DIR, f), 'utf8')));
const root = mkdtempSync(join(tmpdir(), 'stalkd-unix-'));
after(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;
/** A fresh directory for one case's sockets (paths stay well under 107 bytes). */
const socketDir = (): string => mkdtempSync(join(root, `${serial++}-`));

function onSocket(target: Target): Target {
  assert.match(target.host, /^unix:\//, `${target.name} listens on a Unix socket`);
  return target;
}

interface Kind {
  name: string;
  fakeClockOk: boolean;
  singleServer: boolean;
  start(c: TranscriptCase): Promise<Target>;
}

const refVersion = referenceVersion();
const refDialect = refVersion === '1.12' ? '1.12' : '1.13';
const nodeOnSocket = nodeKindFor('1.13', () => `unix:${join(socketDir(), 'node.sock')}`);
const kinds: Kind[] = [
  {
    name: 'node on a Unix socket',
    fakeClockOk: true,
    singleServer: true,
    start: (c) => nodeOnSocket.start(c.args),
  },
  {
    name: 'proxy on a Unix socket over 3 stalkd on Unix sockets',
    fakeClockOk: true,
    singleServer: false,
    start: (c) => startProxyTarget('stalkd', '1.13', c.args, spreadPins(c), true, socketDir()),
  },
];
if (refVersion) {
  kinds.push(
    {
      name: `reference ${refVersion} on a Unix socket`,
      fakeClockOk: false,
      singleServer: true,
      async start(c) {
        const server = await startReference([...c.args], join(socketDir(), 'beanstalkd.sock'));
        return {
          name: this.name,
          version: refDialect,
          fakeClock: false,
          host: server.host,
          port: server.port,
          stop: () => server.stop(),
        };
      },
    },
    {
      name: `proxy on a Unix socket over 3 reference ${refVersion} on Unix sockets`,
      fakeClockOk: false,
      singleServer: false,
      start: (c) => startProxyTarget('reference', refDialect, c.args, spreadPins(c), false, socketDir()),
    },
  );
} else {
  console.log('unix sockets: the reference run needs beanstalkd (apt-get install beanstalkd); not played');
}

for (const kind of kinds) {
  describe(`transcripts on ${kind.name}`, () => {
    for (const file of files) {
      const area = file.name.replace(/\.t$/, '');
      const cases = file.cases.filter(
        (c) =>
          (kind.fakeClockOk || !c.needsFakeClock) &&
          (kind.singleServer || !c.singleServerOnly) &&
          // Draining needs a signal or a hook; the reference target here has neither.
          !c.steps.some((s) => s.kind === 'drain'),
      );
      for (const c of cases) {
        test(`${area}: ${c.name}`, async () => {
          const target = onSocket(await kind.start(c));
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
