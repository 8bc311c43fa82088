/**
 * Human output for the client commands. Nothing a server sends reaches the terminal unescaped:
 * job bodies go through viewBody (text without control characters, else a hex dump) and other
 * strings through safeText, so a body cannot move the cursor or retitle the terminal.
 */
import type { JobStats } from '../../client';
import { hasControlChar, viewBody } from '../../client/job-view';

/** Control characters shown as \xNN. */
export function safeText(text: string): string {
  if (!hasControlChar(text)) return text;
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

/** A job as the human sees it: one header line, then the body (text, or a hex dump). */
export function formatJob(id: number, body: Buffer, stats: JobStats | null, capBytes: number): string {
  const view = viewBody(body, capBytes);
  const facts = [`job ${id}`, `${body.length} bytes`];
  if (stats) facts.push(`tube ${safeText(stats.tube)}`, stats.state, `pri ${stats.pri}`, `age ${stats.age}s`);
  if (view.encoding === 'hex') facts.push('binary (hex)');
  if (view.truncated) facts.push(`first ${view.shownBytes} bytes shown`);
  const text = view.content.endsWith('\n') || view.content === '' ? view.content : `${view.content}\n`;
  return `${facts.join(' · ')}\n${text}`;
}

/** The body as JSON: UTF-8 text when it is valid text, else base64. */
export function jsonBody(body: Buffer): { body: string; encoding: 'utf8' | 'base64' } {
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body)
    ? { body: text, encoding: 'utf8' }
    : { body: body.toString('base64'), encoding: 'base64' };
}

/** `key: value` lines, keys padded to one column (stats output). */
export function formatPairs(map: Record<string, unknown>): string {
  const keys = Object.keys(map);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${`${k}:`.padEnd(width + 1)} ${safeText(String(map[k]))}\n`).join('');
}

export interface TableColumn<R> {
  title: string;
  value: (row: R) => string;
  /** Right-aligned (numbers). */
  right?: boolean;
}

/** A plain text table: a header line, then one line per row; columns two spaces apart. */
export function formatTable<R>(rows: readonly R[], columns: ReadonlyArray<TableColumn<R>>): string[] {
  const cells = rows.map((r) => columns.map((c) => safeText(c.value(r))));
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...cells.map((row) => (row[i] ?? '').length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]?.right ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)];
}
