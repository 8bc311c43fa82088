/**
 * The dashboard's failover view in a real browser (test/support/chromium.ts), end to end: two
 * shards of `stalkd node` processes (primary + 2 standbys each) behind a `stalkd proxy` process,
 * its dashboard open in chromium. kill -9 of node-0's primary: the page shows, as it happens and
 * without a reload, the shard failing, then the failover (which shard, old → new primary, the new
 * term) with the row now read from the new primary; the remaining standby killed too: the shard is
 * marked as without an in-sync standby, and the mark goes once that standby is back in sync; the
 * old primary rejoins as a standby. node-1's row shows none of it. The proxy restarted: the page
 * reconnects and shows node-0 led by the promoted member at term 2, with no failover line (the
 * restarted proxy found that primary; it saw no failover happen). Every check reads the rendered
 * DOM and waits for it to change (page.waitForFunction), never for time.
 * A screenshot goes to test-output/dashboard-failover.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Placement } from '../../src/proxy/ring';
import { loadTopologyFile } from '../../src/proxy/topology';
import { tempDir } from '../support/binlog-fixtures';
import { type BrowserPage, chromiumPresent, OUTPUT_DIR, openBrowserPage } from '../support/chromium';
import { freePort } from '../support/cli-process';
import { MiniClient } from '../support/mini-client';
import { type StalkdProcess, startStalkd } from '../support/processes';
import { whenInstalled } from '../support/requires';
import { makeShard, role, type Shard, untilRole } from '../support/shard';

// The callbacks handed to page.waitForFunction/evaluate run in the page, where these exist; the
// project's tsconfig has no DOM library, so they are declared just as far as used.
interface PageElement {
  textContent: string | null;
  classList: { contains(name: string): boolean };
  querySelector(selector: string): PageElement | null;
  childNodes: ArrayLike<{ textContent: string | null }>;
}
declare const document: { querySelector(selector: string): PageElement | null };
declare function getComputedStyle(el: PageElement, pseudo: string): { content: string };

/** The proxy's default: the row has two dashboard polls (1 s apart) to show the shard failing. */
const FAILOVER_AFTER_MS = 2000;
const WAIT_MS = 20_000;

/** What a node row shows of its shard, read from the page. */
interface ShardRow {
  name: string;
  address: string;
  members: string;
  failover: string;
  failing: boolean;
  noStandby: boolean;
  /** What the "no in-sync standby" mark renders (the members line's ::after), or 'none'. */
  mark: string;
  status: string;
  /** The failover line carries the highlight of a change (restarted on each new failover). */
  flashed: boolean;
}

/**
 * Waits until node row `key` as the page shows it satisfies `check`, and returns it: the page is
 * waited on for each change of the row (page.waitForFunction), each new reading checked here.
 */
async function rowWhen(page: Page, key: string, check: (row: ShardRow) => boolean): Promise<ShardRow> {
  const deadlineMs = Date.now() + WAIT_MS;
  let seen = '';
  for (;;) {
    const handle = await page
      .waitForFunction(
        ([rowKey, previous]) => {
          const tr = document.querySelector(`tr.node[data-key="${rowKey}"]`);
          const name = tr?.querySelector('td[data-col="name"]');
          const members = name?.querySelector('small.members');
          if (!tr || !name || !members) return false;
          const row = JSON.stringify({
            name: name.childNodes[0]?.textContent ?? '',
            address: name.childNodes[1]?.textContent ?? '',
            members: members.textContent ?? '',
            failover: name.querySelector('small.failover')?.textContent ?? '',
            flashed: name.querySelector('small.failover')?.classList.contains('changed') ?? false,
            failing: tr.classList.contains('failing'),
            noStandby: tr.classList.contains('no-standby'),
            mark: getComputedStyle(members, '::after').content,
            status: tr.querySelector('td[data-col="status"]')?.textContent ?? '',
          });
          return row !== previous ? row : false;
        },
        [key, seen] as const,
        { timeout: Math.max(1, deadlineMs - Date.now()) },
      )
      .catch((err: Error) => {
        throw new Error(
          `row ${key}: ${check} not seen within ${WAIT_MS} ms; last shown ${seen}\n${err.message}`,
        );
      });
    seen = (await handle.jsonValue()) as string;
    const row = JSON.parse(seen) as ShardRow;
    if (check(row)) return row;
  }
}

const DAY_SECS = 86_400;
/** The UTC second of the day of `ms` (the failover line shows HH:MM:SS UTC). */
const secondOfDay = (ms: number) => Math.floor(ms / 1000) % DAY_SECS;

const addr = (port: number) => `127.0.0.1:${port}`;
const inSync = (port: number) => `${addr(port)} standby in sync, lag \\d+ rec [\\d.]+ s`;

whenInstalled(chromiumPresent, 'chromium and playwright-core', () =>
  describe('dashboard: failover in chromium', () => {
    const shards: Shard[] = [];
    let proxy: StalkdProcess;
    let browser: BrowserPage;
    let page: Page;
    /** node-0's members' ports: the first primary, then the one promoted, then the third. */
    let ports: { first: number; promoted: number; third: number };
    let topologyFile: string;
    let proxyArgs: string[];

    before(async () => {
      for (let i = 0; i < 2; i++)
        shards.push(await makeShard(3, ['--node-name', `node-${i}`, '--node-index', String(i)]));
      await Promise.all(shards.flatMap((s) => s.members.map((_, m) => s.start(m))));
      await Promise.all(
        shards.map((s) =>
          untilRole(s.members[0]?.port as number, { role: 'primary', 'in-sync-standbys': '2' }),
        ),
      );
      topologyFile = join(tempDir('stalkd-dashboard-failover-'), 'topology.json');
      const nodes = shards.map((s, i) => ({
        name: `node-${i}`,
        index: i,
        host: '127.0.0.1',
        port: s.members[0]?.port,
        replicas: s.members.slice(1).map((m) => ({ host: '127.0.0.1', port: m.port })),
      }));
      writeFileSync(topologyFile, JSON.stringify({ nodes }));
      const metricsPort = await freePort();
      proxyArgs = [
        'proxy',
        '-l',
        '127.0.0.1',
        '-p',
        '0',
        '--topology',
        topologyFile,
        '--metrics-port',
        String(metricsPort),
        '--failover-after-ms',
        String(FAILOVER_AFTER_MS),
      ];
      proxy = await startStalkd(proxyArgs);
      browser = await openBrowserPage();
      page = browser.page;
      await page.goto(`http://127.0.0.1:${metricsPort}/dashboard/`);
      await page.waitForSelector('#conn[data-state="open"]');
    });

    after(async () => {
      await browser?.close();
      await proxy?.kill();
      await Promise.all(shards.map((s) => s.stopAll()));
    });

    test('dashboard: each shard lists its members at term 1, two standbys in sync, no failover, no mark', async () => {
      for (const [i, shard] of shards.entries()) {
        const [p, s1, s2] = shard.members.map((m) => m.port) as [number, number, number];
        const want = `^term 1: ${addr(p)} primary · ${inSync(s1)} · ${inSync(s2)}$`;
        const row = await rowWhen(page, `n${i}`, (r) => new RegExp(want).test(r.members));
        assert.deepEqual(
          [row.name, row.address, row.failover, row.failing, row.noStandby, row.mark],
          [`node-${i}`, addr(p), '', false, false, 'none'],
        );
      }
    });

    test('dashboard: kill -9 of node-0’s primary shows the shard failing, then the failover old → new at term 2, read from the new primary', async () => {
      const shard = shards[0] as Shard;
      const first = shard.members[0]?.port as number;
      // Jobs on a tube of node-0: after the failover its row is read from the new primary.
      const client = await MiniClient.connect(proxy.port);
      const tube = tubeOn(topologyFile, 0);
      assert.equal((await client.send(`use ${tube}`)).line, `USING ${tube}`);
      for (let i = 0; i < 3; i++) assert.match((await client.put(`job-${i}`)).line, /^INSERTED \d+$/);
      client.close();
      const tubeReady = `tr[data-key="0/${tube}"] td[data-col="ready"]`;
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '3', tubeReady);

      const killedAtMs = Date.now();
      await shard.kill(0);
      const failing = await rowWhen(page, 'n0', (r) => r.failing);
      assert.equal(failing.failover, '', 'failing, not yet failed over');
      assert.equal(failing.address, addr(first));
      assert.match(failing.status, /^(down|unreachable: .*)$/);

      const after = await rowWhen(page, 'n0', (r) => r.failover !== '');
      const m = /^failover (\S+) → (\S+) \(term (\d+)\) at (\d\d):(\d\d):(\d\d) UTC$/.exec(after.failover);
      assert.ok(m, after.failover);
      const [, from, to, term] = m;
      assert.equal(from, addr(first), 'the old primary');
      assert.equal(term, '2', 'the new term');
      const promoted = shard.members.find((x) => addr(x.port) === to);
      assert.ok(promoted && promoted.index !== 0, `${to} is a standby of node-0`);
      const third = shard.members.find((x) => x.index !== 0 && x !== promoted)?.port as number;
      ports = { first, promoted: promoted.port, third };
      // The member named is the one that says so, and the time shown is the failover's.
      const r = await role(promoted.port);
      assert.deepEqual([r.get('role'), r.get('term')], ['primary', '2']);
      const shownSec = Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
      const sinceKill = (sec: number) => (sec - secondOfDay(killedAtMs) + DAY_SECS) % DAY_SECS;
      assert.ok(
        sinceKill(shownSec) <= sinceKill(secondOfDay(Date.now())),
        `${after.failover}: between the kill (${new Date(killedAtMs).toISOString()}) and now`,
      );
      assert.equal(after.flashed, true, 'the failover line is highlighted as it appears');
      assert.equal(after.failing, false);
      // The row follows the new primary: its address, its term, the killed member not answering.
      const now = await rowWhen(
        page,
        'n0',
        (r) => r.address === to && r.status === 'up · stalkd' && r.members.startsWith('term 2: '),
      );
      assert.match(now.members, new RegExp(`${addr(first)} not answering`));
      assert.match(now.members, new RegExp(`${to} primary`));
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '3', tubeReady);
    });

    test('dashboard: node-0 is marked without an in-sync standby while it has none, and the mark goes when one is back in sync', async () => {
      assert.ok(ports, 'the failover was seen');
      const shard = shards[0] as Shard;
      const { first, promoted, third } = ports;
      // The third member follows the new primary: one standby in sync, no mark.
      const synced = await rowWhen(page, 'n0', (r) => new RegExp(inSync(third)).test(r.members));
      assert.deepEqual([synced.noStandby, synced.mark], [false, 'none']);

      const thirdIndex = shard.members.findIndex((x) => x.port === third);
      await shard.kill(thirdIndex);
      const marked = await rowWhen(page, 'n0', (r) => r.noStandby);
      assert.equal(marked.mark, '" — no in-sync standby"');
      assert.equal(
        marked.members,
        `term 2: ${addr(first)} not answering · ${addr(promoted)} primary · ${addr(third)} not answering`,
      );

      await shard.start(thirdIndex);
      const cleared = await rowWhen(page, 'n0', (r) => !r.noStandby);
      assert.match(cleared.members, new RegExp(inSync(third)), 'cleared once it is in sync');
      assert.equal(cleared.mark, 'none');
    });

    test('dashboard: the old primary rejoins as a standby; node-1 never showed a failover; no script errors', async () => {
      assert.ok(ports, 'the failover was seen');
      const shard = shards[0] as Shard;
      const { first, promoted, third } = ports;
      await shard.start(0);
      const want = `^term 2: ${inSync(first)} · ${addr(promoted)} primary · ${inSync(third)}$`;
      const row = await rowWhen(page, 'n0', (r) => new RegExp(want).test(r.members));
      assert.match(row.failover, new RegExp(`^failover ${addr(first)} → ${addr(promoted)} \\(term 2\\)`));
      assert.deepEqual([row.noStandby, row.failing], [false, false]);

      const other = await rowWhen(page, 'n1', () => true);
      assert.deepEqual(
        [other.address, other.failover, other.failing, other.noStandby],
        [addr(shards[1]?.members[0]?.port as number), '', false, false],
      );
      assert.match(other.members, /^term 1: /);
      mkdirSync(OUTPUT_DIR, { recursive: true });
      await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-failover.png'), fullPage: true });
      assert.deepEqual(browser.errors, [], 'no script errors or CSP violations');
    });

    test('dashboard: a proxy restarted after the failover finds node-0’s primary at term 2 and shows no failover of its own', async () => {
      assert.ok(ports, 'the failover was seen');
      const { first, promoted, third } = ports;
      assert.equal(await proxy.stop(), 0);
      await page.waitForSelector('#conn[data-state="closed"]');
      proxy = await startStalkd(proxyArgs);
      await page.waitForSelector('#conn[data-state="open"]', { timeout: WAIT_MS });
      // The page keeps the old proxy's rows until the new one's first snapshot (the connection is
      // 'open' before it arrives), and their members read the same: wait for the row without the
      // old failover line — a restarted proxy that showed one again never gets there (time-out).
      const want = `^term 2: ${inSync(first)} · ${addr(promoted)} primary · ${inSync(third)}$`;
      const row = await rowWhen(page, 'n0', (r) => new RegExp(want).test(r.members) && r.failover === '');
      assert.deepEqual(
        [row.address, row.status, row.failover, row.failing, row.noStandby],
        [addr(promoted), 'up · stalkd', '', false, false],
        'a primary found at start is not a failover seen happening',
      );
      // While the proxy was away the page could not reach it; nothing else went wrong.
      const unreachable = /^WebSocket connection to '.*' failed/;
      assert.deepEqual(
        browser.errors.filter((e) => !unreachable.test(e)),
        [],
      );
    });
  }),
);

/** A tube the proxy's topology places on shard `index`. */
function tubeOn(topologyFile: string, index: number): string {
  const placement = new Placement(loadTopologyFile(topologyFile));
  for (let n = 0; ; n++) if (placement.ownerOf(`jobs-${n}`).index === index) return `jobs-${n}`;
}
