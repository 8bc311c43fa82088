/**
 * The dashboard's pages in a real browser: Debian's chromium (installed by .ci/run) driven by
 * playwright-core (no browser download), headless, with a fresh profile, every script error and
 * console error collected.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

function playwrightAvailable(): boolean {
  try {
    require.resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}

/** True when chromium and playwright-core are both here (whenInstalled's `present`). */
export const chromiumPresent = CHROMIUM !== undefined && playwrightAvailable();

/** dist/test/support → <repo>/test-output (screenshots). */
export const OUTPUT_DIR = join(__dirname, '..', '..', '..', 'test-output');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught script errors and console errors (CSP violations show there), in order. */
  errors: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** A headless chromium with a fresh profile and one page; dialogs (the clear button's confirmation) are accepted. */
export async function openBrowserPage(): Promise<BrowserPage> {
  const { chromium } = await import('playwright-core');
  const profileDir = mkdtempSync(join(tmpdir(), 'stalkd-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM as string,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  } catch (err) {
    rmSync(profileDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('dialog', (dialog) => void dialog.accept());
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
