/**
 * A job body prepared for display: at most `capBytes` of it, as text when those bytes are UTF-8
 * without control characters (tab, CR and LF allowed), otherwise as a hex dump. The browser puts
 * either into the page with textContent, and the CLI escapes it, so a body can never inject markup
 * or terminal escape sequences.
 */

export const DEFAULT_PEEK_BODY_BYTES = 4096;

export interface BodyView {
  bytes: number;
  /** Bytes shown (≤ bytes). */
  shownBytes: number;
  truncated: boolean;
  encoding: 'text' | 'hex';
  /** The text, or the hex dump (16 bytes a line: offset, hex, ASCII). */
  content: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * C0 controls (all, or all but tab, LF and CR), DEL, and C1 controls (U+0080–U+009F, which
 * include the 8-bit ESC/CSI a terminal acts on).
 */
export function hasControlChar(text: string, allowTabAndNewlines = false): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && !(allowTabAndNewlines && (c === 9 || c === 10 || c === 13))) return true;
    if (c >= 0x7f && c <= 0x9f) return true;
  }
  return false;
}

/** A cut inside a multi-byte character is not a binary body: back off to the character start. */
function trimPartialChar(buf: Buffer): Buffer {
  for (let back = 1; back <= 3 && back <= buf.length; back++) {
    const byte = buf[buf.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte
    if (byte >= 0xc0) {
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return need > back ? buf.subarray(0, buf.length - back) : buf;
    }
    return buf;
  }
  return buf;
}

/** Text if the body reads as clean UTF-8; undefined if it is binary. */
export function bodyAsText(buf: Buffer): string | undefined {
  try {
    const text = utf8.decode(buf);
    return hasControlChar(text, true) ? undefined : text;
  } catch {
    return undefined;
  }
}

export function hexDump(buf: Buffer): string {
  const lines: string[] = [];
  for (let off = 0; off < buf.length; off += 16) {
    const row = buf.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

export function viewBody(body: Buffer, capBytes = DEFAULT_PEEK_BODY_BYTES): BodyView {
  const truncated = body.length > capBytes;
  const shown = truncated ? trimPartialChar(body.subarray(0, capBytes)) : body;
  const text = bodyAsText(shown);
  return {
    bytes: body.length,
    shownBytes: shown.length,
    truncated,
    encoding: text === undefined ? 'hex' : 'text',
    content: text ?? hexDump(shown),
  };
}
