/**
 * The dashboard in a real browser (test/support/chromium.ts). The page loads with its CSP and no script errors,
 * sees the table change after puts (cells highlighted), drills down to peek (refused without a
 * token; markup and binary shown safely with it), is refused an admin action without the token
 * and performs it with the token. The balance panel shows each node's share of puts, reserves and
 * jobs and sparklines whose totals match a known load; a tube moves to another node from the page
 * (the pin written to the proxy's topology file, the jobs moved, in their states).
 * A screenshot goes to test-output/dashboard.png.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '../../src/client';
import { type BrowserPage, chromiumPresent, OUTPUT_DIR, openBrowserPage } from '../support/chromium';
import { type DashboardCluster, startDashboardCluster } from '../support/dashboard-harness';
import { whenInstalled } from '../support/requires';

// The callbacks handed to page.waitForFunction/evaluate run in the page, where these exist; the
// project's tsconfig has no DOM library, so they are declared just as far as used.
interface PageElement {
  textContent: string | null;
  classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
};
declare const window: object;

whenInstalled(chromiumPresent, 'chromium and playwright-core', () =>
  describe('dashboard: in chromium', () => {
    const TOKEN = 'browser-test-token-41d2';
    let d: DashboardCluster;
    let client: Client;
    let browser: BrowserPage;
    let page: import('playwright-core').Page;

    before(async () => {
      d = await startDashboardCluster({ adminToken: TOKEN, limits: { intervalMs: 300 }, withTopology: true });
      client = await Client.connect({ host: '127.0.0.1', port: d.cluster.proxy.port });
      browser = await openBrowserPage();
      page = browser.page;
    });

    after(async () => {
      await browser?.close();
      await client?.close();
      await d?.stop();
    });

    const cell = (key: string, col: string) => `tr[data-key="${key}"] td[data-col="${col}"]`;

    async function cellText(key: string, col: string, expected: string): Promise<void> {
      await page.waitForFunction(
        ([selector, want]) => document.querySelector(selector as string)?.textContent === want,
        [cell(key, col), expected] as const,
        { timeout: 10_000 },
      );
    }

    test('dashboard: the page loads and lists the three nodes, live', async () => {
      await page.goto(`${d.base}/dashboard/`);
      await page.waitForSelector('#conn[data-state="open"]');
      await page.waitForFunction(() => document.querySelectorAll('tr.node').length === 3);
      const nodes = await page.$$eval('tr.node td[data-col="name"]', (tds) =>
        tds.map((td) => td.textContent),
      );
      assert.equal(nodes.length, 3);
      assert.ok(
        nodes.every((n, i) => n?.startsWith(`node-${i}`)),
        nodes.join(','),
      );
      const status = await page.$$eval('tr.node td[data-col="status"]', (tds) =>
        tds.map((td) => td.textContent),
      );
      assert.deepEqual(status, ['up · stalkd', 'up · stalkd', 'up · stalkd']);
    });

    /** Waits until every node's `attr` on balance column `col` reads as `want` (node order). */
    async function balance(col: string, attr: string, want: string[]): Promise<void> {
      await page.waitForFunction(
        ([column, attribute, expected]) =>
          (expected as string[]).every(
            (v, i) =>
              document
                .querySelector(`#balance-rows tr[data-node="n${i}"] td[data-col="${column}"]`)
                ?.getAttribute(attribute as string) === v,
          ),
        [col, attr, want] as const,
        { timeout: 10_000 },
      );
    }

    test('dashboard: the balance panel shows each node’s share of puts, reserves and jobs, and sparklines of its rates', async () => {
      // A known load: 30 jobs put on node-0, 10 on node-1, none on node-2; 6 and 2 of them taken.
      const load = await Client.connect({ host: '127.0.0.1', port: d.cluster.proxy.port });
      try {
        const [t0, t1] = [0, 1].map((index) => {
          for (let i = 0; ; i++)
            if (d.cluster.proxy.placement.ownerOf(`load-${i}`).index === index) return `load-${i}`;
        }) as [string, string];
        for (const [tube, count] of [
          [t0, 30],
          [t1, 10],
        ] as const) {
          await load.use(tube);
          for (let i = 0; i < count; i++) await load.put(`${tube}-${i}`);
          // Seen by the dashboard before any is taken: a tube's first reading starts its series.
          await cellText(d.ownerKey(tube), 'ready', String(count));
        }
        await load.ignore('default');
        for (const [tube, count] of [
          [t0, 6],
          [t1, 2],
        ] as const) {
          await load.watch(tube);
          for (let i = 0; i < count; i++) {
            const job = await load.reserveWithTimeout(0);
            assert.ok(typeof job === 'object', `a job of ${tube}`);
            assert.equal(await load.delete(job.id), 'DELETED');
          }
          await load.ignore(tube);
        }
        await balance('putShare', 'data-share', ['75', '25', '0']);
        await balance('reserveShare', 'data-share', ['75', '25', '0']);
        await balance('jobShare', 'data-share', ['75', '25', '0']); // 24, 8, 0 held
        await balance('putHistory', 'data-total', ['30', '10', '0']);
        await balance('reserveHistory', 'data-total', ['6', '2', '0']);
        assert.equal(
          await page.textContent('#balance-rows tr[data-node="n0"] td[data-col="putShare"]'),
          '75 %',
        );
        const points = await page.getAttribute(
          '#balance-rows tr[data-node="n0"] td[data-col="putHistory"] polyline',
          'points',
        );
        assert.equal(points?.split(' ').length, 60, 'one point per 5 s bucket over five minutes');
        const fill = await page.$eval(
          '#balance-rows tr[data-node="n1"] td[data-col="jobShare"] .fill',
          (el) => (el as unknown as { style: { width: string } }).style.width,
        );
        assert.equal(fill, '25%');
      } finally {
        await load.close();
      }
    });

    test('dashboard: the table changes after puts, and changed cells are highlighted', async () => {
      await client.use('emails');
      for (let i = 0; i < 3; i++) await client.put(`email-${i}`);
      const key = d.ownerKey('emails');
      await cellText(key, 'ready', '3');
      const seqBefore = Number(await page.getAttribute('#updated', 'data-seq'));
      await client.put('email-3');
      await cellText(key, 'ready', '4');
      const highlighted = await page.$eval(cell(key, 'ready'), (td) => td.classList.contains('changed'));
      assert.equal(highlighted, true, 'the changed cell flashes');
      assert.ok(Number(await page.getAttribute('#updated', 'data-seq')) > seqBefore);
      // The tube sits under its owner node.
      const owner = d.cluster.proxy.placement.ownerOf('emails').name;
      assert.equal(await page.textContent(cell(key, 'status')), owner);
    });

    test('dashboard: drill-down peeks show bodies as text, markup inert, binary as hex', async () => {
      await client.use('emails');
      const key = d.ownerKey('emails');
      await page.click(`tr[data-key="${key}"]`);
      await page.waitForSelector('#detail:not([hidden])');
      // Bodies need a token: refused without one, shown with it.
      await page.fill('#token', '');
      await page.click('[data-peek="ready"]');
      await page.waitForSelector('#result[data-ok="false"]');
      assert.match((await page.textContent('#result')) ?? '', /^refused: token missing or wrong/);
      assert.equal(await page.isHidden('#job'), true, 'no body shown');
      await page.fill('#token', TOKEN);
      await page.click('[data-peek="ready"]');
      await page.waitForSelector('#job:not([hidden])');
      assert.equal(await page.textContent('#job-body'), 'email-0');
      assert.match((await page.textContent('#job-meta')) ?? '', /^job \d+ · 7 bytes · state ready/);

      await client.use('raw');
      const hostile = await client.put('<img src=x onerror="window.pwned=1">');
      await client.put(Buffer.from([0x00, 0xff, 0x1b, 0x5b]), { delaySecs: 3600 });
      const rawKey = d.ownerKey('raw');
      await page.waitForSelector(`tr[data-key="${rawKey}"]`);
      await page.click(`tr[data-key="${rawKey}"]`);
      await page.click('[data-peek="ready"]');
      await page.waitForFunction(() => document.querySelector('#job-body')?.textContent?.startsWith('<img'));
      assert.match((await page.textContent('#job-meta')) ?? '', new RegExp(`^job ${hostile} `));
      assert.equal(await page.$$eval('#job-body img', (imgs) => imgs.length), 0, 'no element created');
      assert.equal(await page.evaluate(() => (window as { pwned?: number }).pwned), undefined);
      await page.click('[data-peek="delayed"]');
      await page.waitForFunction(() => document.querySelector('#job-body')?.classList.contains('hex'));
      assert.match((await page.textContent('#job-body')) ?? '', /^00000000 {2}00 ff 1b 5b/);
    });

    test('dashboard: an admin action is refused without the token and done with it', async () => {
      await client.use('emails'); // keeps the tube alive once it is empty
      const key = d.ownerKey('emails');
      await page.click(`tr[data-key="${key}"]`);
      await page.fill('#token', '');
      await page.click('#clear');
      await page.waitForSelector('#result[data-ok="false"]');
      assert.match((await page.textContent('#result')) ?? '', /^refused: admin token missing or wrong/);
      assert.equal((await client.statsTube('emails'))?.['current-jobs-ready'], 4, 'nothing was deleted');

      await page.fill('#token', 'not-the-token');
      await page.click('#pause');
      await page.waitForFunction(() => document.querySelector('#result')?.textContent?.startsWith('refused'));
      assert.equal((await client.statsTube('emails'))?.pause, 0);

      await page.fill('#token', TOKEN);
      await page.click('#clear');
      await page.waitForSelector('#result[data-ok="true"]');
      assert.equal(await page.textContent('#result'), 'cleared 4 job(s) from emails');
      await cellText(key, 'ready', '0');
      await page.fill('#pause-secs', '120');
      await page.click('#pause');
      await page.waitForFunction(
        () => document.querySelector('#result')?.textContent === 'paused emails for 120 s',
      );
      await page.waitForFunction(
        (selector) => /^\d+ s$/.test(document.querySelector(selector)?.textContent ?? ''),
        cell(key, 'paused'),
      );
      assert.ok(((await client.statsTube('emails'))?.pause ?? 0) === 120);
    });

    test('dashboard: a tube moves to another node from the page, its jobs in their states', async () => {
      const tube = 'archive';
      const from = d.cluster.proxy.placement.ownerOf(tube).index;
      const to = (from + 1) % 3;
      await client.use(tube);
      for (let i = 0; i < 3; i++) await client.put(`ready-${i}`);
      for (let i = 0; i < 2; i++) await client.put(`delayed-${i}`, { delaySecs: 900 });
      await client.watch(tube);
      const buried = await client.put('buried', { pri: 3 });
      assert.equal(await client.reserveJob(buried).then(() => client.bury(buried, 3)), 'BURIED');
      await client.ignore(tube);
      await cellText(`${from}/${tube}`, 'ready', '3');
      await page.click(`tr[data-key="${from}/${tube}"]`);
      await page.fill('#token', TOKEN);
      await page.selectOption('#move-node', `node-${to}`);
      await page.click('#move');
      await page.waitForSelector('#result[data-ok="true"]', { timeout: 15_000 });
      assert.equal(
        await page.textContent('#result'),
        `moved 6 job(s) of ${tube} to node-${to}; pinned in the topology`,
      );
      assert.deepEqual(JSON.parse(readFileSync(d.topologyFile, 'utf8')).pins, { [tube]: `node-${to}` });
      assert.equal(d.cluster.proxy.placement.ownerOf(tube).index, to, 'the proxy routes it there');
      await cellText(`${to}/${tube}`, 'ready', '3');
      await cellText(`${to}/${tube}`, 'delayed', '2');
      await cellText(`${to}/${tube}`, 'buried', '1');
      await page.waitForSelector(`tr[data-key="${from}/${tube}"]`, { state: 'detached' });
    });

    test('dashboard: screenshot saved, no script errors', async (t) => {
      for (const [tube, count] of [
        ['reports', 12],
        ['thumbnails', 40],
        ['webhooks', 3],
      ] as const) {
        await client.use(tube);
        for (let i = 0; i < count; i++)
          await client.put(JSON.stringify({ tube, n: i }), { pri: i % 2 ? 10 : 2000 });
      }
      await client.watch('thumbnails');
      await client.ignore('default');
      const reserved = await client.reserveWithTimeout(5);
      assert.ok(typeof reserved === 'object', 'a job reserved');
      await cellText(d.ownerKey('thumbnails'), 'reserved', '1');
      await page.click(`tr[data-key="${d.ownerKey('reports')}"]`);
      await page.click('[data-peek="ready"]');
      await page.waitForFunction(() => document.querySelector('#job-body')?.textContent?.includes('reports'));
      mkdirSync(OUTPUT_DIR, { recursive: true });
      const path = join(OUTPUT_DIR, 'dashboard.png');
      await page.screenshot({ path, fullPage: true });
      assert.ok(existsSync(path));
      t.diagnostic(`screenshot: ${path}`);
      assert.deepEqual(browser.errors, [], 'no script errors or CSP violations');
    });
  }),
);
