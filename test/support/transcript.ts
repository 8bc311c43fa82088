/**
 * Transcript format: protocol conversations written as text, played byte-exactly against a server.
 *
 * A file holds cases. Lines are read one by one; trailing spaces/tabs are an error (write `\x20`),
 * so no byte is ever invisible. Blank lines and lines starting with `#` are ignored.
 *
 *   === name            starts a case; every case runs on a fresh server
 *   @args -z 10         server options (beanstalkd flags; a target rejects flags it cannot honour)
 *   @requires fake-clock      the case uses @advance: not played on targets without a fake clock
 *   @requires single-server   the case depends on absolute ids or one server's counters
 *                              (e.g. `peek 1`): not played through the proxy
 *   (@args/@requires before the first `===` apply to every case of the file.)
 *
 * Steps, all on the current connection (`main` until switched):
 *   > text        send text + "\r\n"
 *   >> text       send text as is (partial writes, missing CRLF, bodies)
 *   < text        expect exactly text + "\r\n" next
 *   << text       expect exactly text next (no CRLF added)
 *   <yaml         expect `OK <n>\r\n` + n bytes of YAML + "\r\n"; the YAML lines follow as
 *   | line        ... one `| ` line per "\n"-terminated YAML line. In `|` lines `*` matches any
 *                 run of bytes within the line (volatile values: pid, uptime, age…) and a line
 *                 `| ...` matches any number of whole lines (check a few keys only). <n> is always
 *                 checked: the body must be exactly n bytes and end in "\r\n"; without `*`/`...`
 *                 the expected bytes, hence n, are fully determined.
 *   @conn NAME    switch connection; a connection opens on its first send/expect (note: the
 *                 server may not have accepted it until it answered something on it)
 *   @close        close the current connection (the next use of the name opens a new one)
 *   @shutdown     half-close: shut down our write side, keep reading
 *   @eof          expect the server to close the connection with no further bytes
 *   @advance MS   move the fake clock MS ms forward and run due timers (needs fake-clock)
 *   @drain        put the server into drain mode (beanstalkd: SIGUSR1)
 *   @repeat N … @end   the steps in between, N times (not nested)
 *
 * Text escapes (sends and expects): \r \n \t \\ \xNN \$ \* \] and repetition \[N*X], which stands
 * for N copies of X (X is text with escapes, e.g. \[5000*a] or \[2*\r\n]).
 * Job ids are symbols: `$name` in a `<`/`|` line binds to the digits there on first use; later
 * uses (also in sends) substitute the bound id; `$_` matches any id and binds nothing. Absolute ids are only allowed in single-server
 * cases, because the proxy renumbers ids.
 *
 * Version differences (expectations are for beanstalkd 1.13): a line `<1.12 text` (also `<<1.12`,
 * `|1.12`) right after an untagged line of the same kind replaces it on 1.12 targets. Bigger
 * differences use `@if 1.12` … `@else` … `@end` (not nested); steps in the first branch are played
 * on 1.12 only, in the second on 1.13 only.
 *
 * The player lives in transcript-player.ts; targets in transcript-targets.ts.
 */

export type Version = '1.13' | '1.12';

/** One piece of a send/expect: literal bytes, a job-id symbol, or (YAML lines only) a wildcard. */
export type Part = { bytes: Buffer } | { symbol: string } | { star: true };

export interface YamlLine {
  line: number;
  /** 'ellipsis' matches any number of whole lines. */
  parts: Part[] | 'ellipsis';
  only?: Version;
}

interface StepBase {
  /** 1-based line number in the transcript file, for error messages. */
  line: number;
  text: string;
  /** Played only on targets of this version. */
  only?: Version;
}

export type Step =
  | (StepBase & { kind: 'conn'; name: string })
  | (StepBase & { kind: 'send'; parts: Part[] })
  | (StepBase & { kind: 'expect'; parts: Part[] })
  | (StepBase & { kind: 'yaml'; lines: YamlLine[] })
  | (StepBase & { kind: 'advance'; ms: number })
  | (StepBase & { kind: 'eof' | 'close' | 'shutdown' | 'drain' });

export interface TranscriptCase {
  file: string;
  name: string;
  line: number;
  args: string[];
  needsFakeClock: boolean;
  singleServerOnly: boolean;
  steps: Step[];
}

export interface TranscriptFile {
  name: string;
  cases: TranscriptCase[];
}

const OTHER: Record<Version, Version> = { '1.13': '1.12', '1.12': '1.13' };
const LINE_RE = /^(>>|>|<<|<|\|)(1\.12|1\.13)?(?: (.*))?$/;

export function parseTranscript(fileName: string, source: string): TranscriptFile {
  const parser = new TranscriptParser(fileName);
  source.split('\n').forEach((raw, index) => {
    try {
      parser.line(raw);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`${fileName}:${index + 1}: ${why}: ${JSON.stringify(raw)}`);
    }
  });
  return parser.finish();
}

type YamlStep = StepBase & { kind: 'yaml'; lines: YamlLine[] };

/** Line-by-line state: the case being built, an open <yaml block, @if branch, @repeat start. */
class TranscriptParser {
  private readonly cases: TranscriptCase[] = [];
  private readonly fileArgs: string[] = [];
  private fileClock = false;
  private fileSingle = false;
  private current: TranscriptCase | undefined;
  private yaml: YamlStep | undefined;
  private branch: Version | undefined;
  private inIf = false;
  private repeat: { times: number; from: number } | undefined;
  private lineNo = 0;

  constructor(private readonly fileName: string) {}

  line(raw: string): void {
    this.lineNo++;
    if (/[ \t]$/.test(raw)) throw new Error('trailing whitespace (write \\x20)');
    if (raw === '' || raw.startsWith('#')) return;
    if (!raw.startsWith('|')) this.yaml = undefined;
    if (raw.startsWith('=== ')) {
      this.startCase(raw.slice(4));
      return;
    }
    if (raw.startsWith('@')) {
      this.directive(raw);
      return;
    }
    const c = this.caseOrThrow();
    if (raw === '<yaml') {
      this.yaml = { line: this.lineNo, text: raw, kind: 'yaml', lines: [] };
      this.push(c, this.yaml);
      return;
    }
    const m = LINE_RE.exec(raw);
    if (!m) throw new Error('unrecognised line');
    const [, prefix = '', tag, body = ''] = m;
    if (prefix === '|') {
      this.yamlLine(body, tag as Version | undefined);
      return;
    }
    const crlf = prefix === '>' || prefix === '<' ? Buffer.from('\r\n') : Buffer.alloc(0);
    const parts = mergeBytes([...parseText(body, { symbols: true, star: false }), { bytes: crlf }]);
    const kind = prefix.startsWith('>') ? 'send' : 'expect';
    if (tag && kind === 'send') throw new Error('version tags are for expectations; use @if for sends');
    const step: Step = { line: this.lineNo, text: raw, kind, parts };
    if (!tag) {
      this.push(c, step);
      return;
    }
    const prev = c.steps[c.steps.length - 1];
    const sameKind = prev?.kind === 'expect' && LINE_RE.exec(prev.text)?.[1] === prefix;
    if (this.branch || !prev || !sameKind || prev.only) {
      throw new Error(`"${prefix}${tag}" must follow an untagged "${prefix}" line`);
    }
    prev.only = OTHER[tag as Version];
    step.only = tag as Version;
    c.steps.push(step);
  }

  finish(): TranscriptFile {
    if (this.inIf || this.repeat) throw new Error(`${this.fileName}: @if or @repeat without @end`);
    return { name: this.fileName, cases: this.cases };
  }

  private startCase(name: string): void {
    if (this.inIf || this.repeat) throw new Error('case starts inside @if or @repeat');
    this.current = {
      file: this.fileName,
      name,
      line: this.lineNo,
      args: [...this.fileArgs],
      needsFakeClock: this.fileClock,
      singleServerOnly: this.fileSingle,
      steps: [],
    };
    this.cases.push(this.current);
  }

  private directive(raw: string): void {
    const [word = '', ...rest] = raw.slice(1).split(' ');
    const c = this.current;
    if (word === 'args') {
      if (c && c.steps.length > 0) throw new Error('@args after the first step');
      (c ? c.args : this.fileArgs).push(...rest);
    } else if (word === 'requires') {
      const what = rest.join(' ');
      if (what !== 'fake-clock' && what !== 'single-server') throw new Error('unknown requirement');
      if (c && what === 'fake-clock') c.needsFakeClock = true;
      else if (c) c.singleServerOnly = true;
      else if (what === 'fake-clock') this.fileClock = true;
      else this.fileSingle = true;
    } else {
      this.blockOrStep(this.caseOrThrow(), raw, word, rest);
    }
  }

  private blockOrStep(c: TranscriptCase, raw: string, word: string, rest: string[]): void {
    const arg = rest.length === 1 ? (rest[0] ?? '') : '';
    const base = { line: this.lineNo, text: raw };
    if (word === 'repeat') {
      if (this.repeat || !/^\d+$/.test(arg)) throw new Error('bad @repeat');
      this.repeat = { times: Number(arg), from: c.steps.length };
    } else if (word === 'end' && this.repeat) {
      const body = c.steps.splice(this.repeat.from);
      for (let i = 0; i < this.repeat.times; i++) c.steps.push(...body);
      this.repeat = undefined;
    } else if (word === 'if') {
      if (this.inIf || this.repeat || (arg !== '1.12' && arg !== '1.13')) throw new Error('bad @if');
      this.inIf = true;
      this.branch = arg;
    } else if (word === 'else') {
      if (!this.branch) throw new Error('@else without @if');
      this.branch = OTHER[this.branch];
    } else if (word === 'end') {
      if (!this.inIf) throw new Error('@end without @if');
      this.inIf = false;
      this.branch = undefined;
    } else if (word === 'conn' && arg) {
      this.push(c, { ...base, kind: 'conn', name: arg });
    } else if (word === 'advance' && /^\d+$/.test(arg)) {
      if (!c.needsFakeClock) throw new Error('@advance in a case without "@requires fake-clock"');
      this.push(c, { ...base, kind: 'advance', ms: Number(arg) });
    } else if (
      (word === 'close' || word === 'shutdown' || word === 'eof' || word === 'drain') &&
      !rest.length
    ) {
      this.push(c, { ...base, kind: word });
    } else {
      throw new Error('unknown directive');
    }
  }

  private yamlLine(body: string, tag: Version | undefined): void {
    if (!this.yaml) throw new Error('"|" line outside a <yaml block');
    const entry: YamlLine = {
      line: this.lineNo,
      parts: body === '...' ? 'ellipsis' : parseText(body, { symbols: true, star: true }),
    };
    if (tag) {
      const prev = this.yaml.lines[this.yaml.lines.length - 1];
      if (this.branch || !prev || prev.only) throw new Error(`"|${tag}" must follow an untagged "|" line`);
      prev.only = OTHER[tag];
      entry.only = tag;
    }
    if (this.branch) entry.only = this.branch;
    this.yaml.lines.push(entry);
  }

  private caseOrThrow(): TranscriptCase {
    if (!this.current) throw new Error('step before the first case');
    return this.current;
  }

  private push(c: TranscriptCase, step: Step): void {
    if (this.branch) step.only = this.branch;
    c.steps.push(step);
  }
}

/** Parses escapes, `$symbols` and (optionally) `*` wildcards; see the header comment. */
export function parseText(text: string, opts: { symbols: boolean; star: boolean }): Part[] {
  const [parts, end] = parseUntil(text, 0, opts, false);
  if (end !== text.length) throw new Error(`unexpected "]" at ${end}`);
  return parts;
}

function parseUntil(
  text: string,
  start: number,
  opts: { symbols: boolean; star: boolean },
  inRepeat: boolean,
): [Part[], number] {
  const parts: Part[] = [];
  const bytes: number[] = [];
  const flush = (): void => {
    if (bytes.length > 0) parts.push({ bytes: Buffer.from(bytes) });
    bytes.length = 0;
  };
  let i = start;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === ']' && inRepeat) break;
    if (ch === '\\') {
      const next = text[i + 1];
      const simple: Record<string, number> = { r: 13, n: 10, t: 9, '\\': 92, $: 36, '*': 42, ']': 93 };
      if (next !== undefined && simple[next] !== undefined) {
        bytes.push(simple[next] as number);
        i += 2;
      } else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
        bytes.push(Number.parseInt(text.slice(i + 2, i + 4), 16));
        i += 4;
      } else if (next === '[') {
        const m = /^(\d+)\*/.exec(text.slice(i + 2));
        if (!m) throw new Error('bad repetition, expected \\[N*X]');
        const [inner, close] = parseUntil(text, i + 2 + m[0].length, { symbols: false, star: false }, true);
        if (text[close] !== ']') throw new Error('unterminated \\[N*X]');
        const unit = Buffer.concat(inner.map((p) => ('bytes' in p ? p.bytes : Buffer.alloc(0))));
        flush();
        parts.push({ bytes: Buffer.alloc(unit.length * Number(m[1]), unit) });
        i = close + 1;
      } else {
        throw new Error(`unknown escape \\${next ?? ''}`);
      }
    } else if (ch === '$' && opts.symbols) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
      if (!m) throw new Error('"$" must start a symbol (write \\$ for a dollar)');
      flush();
      parts.push({ symbol: m[0] });
      i += 1 + m[0].length;
    } else if (ch === '*' && opts.star) {
      flush();
      parts.push({ star: true });
      i += 1;
    } else {
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) throw new Error('non-printable character (use \\xNN)');
      bytes.push(code);
      i += 1;
    }
  }
  flush();
  return [mergeBytes(parts), i];
}

function mergeBytes(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if ('bytes' in p && last && 'bytes' in last)
      out[out.length - 1] = { bytes: Buffer.concat([last.bytes, p.bytes]) };
    else if (!('bytes' in p) || p.bytes.length > 0) out.push(p);
  }
  return out;
}
