/**
 * The dashboard page: plain HTML, JS and CSS in src/dashboard/static/, served as they are (no
 * bundler, no build step). tsc does not copy them, so the compiled module finds them relative to
 * itself: dist/src/dashboard/ → ../../../src/dashboard/static. The Docker image copies that folder
 * next to dist/ for the same reason. The files are read once, when the dashboard is attached.
 */
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';

export const STATIC_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'balance.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const;

export type StaticName = keyof typeof STATIC_FILES;

/** Candidate folders, first match wins: beside the sources (also in the image), or a copy in dist. */
export function staticDirCandidates(): string[] {
  return [join(__dirname, '..', '..', '..', 'src', 'dashboard', 'static'), join(__dirname, 'static')];
}

export function findStaticDir(): string | undefined {
  return staticDirCandidates().find((dir) => existsSync(join(dir, 'index.html')));
}

export interface StaticAsset {
  body: Buffer;
  contentType: string;
}

export function loadStaticAssets(dir: string): Map<StaticName, StaticAsset> {
  const assets = new Map<StaticName, StaticAsset>();
  for (const [name, contentType] of Object.entries(STATIC_FILES) as Array<[StaticName, string]>) {
    assets.set(name, { body: readFileSync(join(dir, name)), contentType });
  }
  return assets;
}

/**
 * Headers for every dashboard response: the page loads only its own script and style and talks
 * only to its own origin (ws included), may not be framed, and sends no referrer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

export function serveAsset(res: http.ServerResponse, asset: StaticAsset | undefined, head: boolean): void {
  if (!asset) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`dashboard files not found (looked in ${staticDirCandidates().join(', ')})\n`);
    return;
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': asset.contentType,
    'Content-Length': asset.body.length,
  });
  res.end(head ? undefined : asset.body);
}
