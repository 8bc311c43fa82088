/**
 * `stalkd binlog verify DIR` and `stalkd binlog dump DIR [--json]`: a node's binlog read the way
 * the node itself replays it at start (src/binlog/inspect.ts), without changing a byte — safe on
 * the directory of a running node and on a backup copy (docs/operations.md).
 *
 * verify: exit 0 when every record is intact (notes such as a torn tail at the very end of the
 * newest segment are printed but are not damage), 1 on damage, 2 when DIR cannot be read.
 * dump: the jobs a node would restore, in restore order; `--json` prints one JSON object per line.
 */
import type { Command } from 'commander';
import { type BinlogReport, inspectBinlog, RESTORED_STATES } from '../binlog/inspect';
import type { LiveJob } from '../binlog/replay';
import { formatJob, jsonBody, safeText } from './client/output';

const EXIT_DAMAGED = 1;
const EXIT_UNREADABLE = 2;
/** Bytes of each body `dump` shows a human (`--json` always has the whole body). */
const HUMAN_BODY_BYTES = 256;

function readReport(dir: string): BinlogReport {
  try {
    return inspectBinlog(dir);
  } catch (err) {
    process.stderr.write(`stalkd binlog: cannot read ${dir}: ${err instanceof Error ? err.message : err}\n`);
    process.exit(EXIT_UNREADABLE);
  }
}

export function formatSummary(r: BinlogReport): string {
  const states = RESTORED_STATES.map((s) => `${r.jobsByState[s]} ${s}`).join(', ');
  const lines = [
    `binlog ${safeText(r.dir)}`,
    `  segments   ${r.segments.length} (${r.segments[0] ?? '-'} … ${r.segments.at(-1) ?? '-'}), ${r.diskBytes} bytes on disk`,
    `  records    every record decoded and its checksum checked, up to LSN ${r.lastLsn}`,
    `  jobs       ${r.jobs.length} as a node would restore them: ${states}; ${r.tubes} tubes`,
    `  ids        a node started here hands out ${r.nextId} and up (above every id ever logged)`,
  ];
  for (const n of r.notes) lines.push(`  note       ${safeText(n)}`);
  for (const d of r.damage) lines.push(`  DAMAGE     ${safeText(d)}`);
  lines.push(
    r.damage.length === 0 ? 'ok' : `DAMAGED: ${r.damage.length} problem(s); the changes they held are lost`,
  );
  return `${lines.join('\n')}\n`;
}

/** One job as `dump --json` prints it: the restored record and the exact body. */
export function jobJson(job: LiveJob): Record<string, unknown> {
  const { body, encoding } = jsonBody(job.body);
  return { ...job.record, bodyBytes: job.body.length, body, encoding };
}

function dumpHuman(job: LiveJob): string {
  const r = job.record;
  const head = formatJob(r.id, job.body, null, HUMAN_BODY_BYTES);
  const facts = [`tube ${safeText(r.tube)}`, r.state, `pri ${r.pri}`, `ttr ${r.ttrMs / 1000}s`];
  if (r.deadlineAtMs > 0) facts.push(`ready at ${new Date(r.deadlineAtMs).toISOString()}`);
  facts.push(`created ${new Date(r.createdAtMs).toISOString()}`);
  const newline = head.indexOf('\n');
  return `${head.slice(0, newline)} · ${facts.join(' · ')}${head.slice(newline)}`;
}

export function registerBinlogCommand(program: Command): Command {
  const binlog = program
    .command('binlog')
    .description("read a node's binlog directory without changing it (safe while the node runs)");
  binlog
    .command('verify <dir>')
    .description('check every record; print a summary; exit 1 on damage')
    .action((dir: string) => {
      const report = readReport(dir);
      process.stdout.write(formatSummary(report));
      if (report.damage.length > 0) process.exitCode = EXIT_DAMAGED;
    });
  binlog
    .command('dump <dir>')
    .description('print the jobs a node started on DIR would restore')
    .option('--json', 'one JSON object per job and line (bodies exact: UTF-8 or base64)')
    .action((dir: string, opts: { json?: boolean }) => {
      const report = readReport(dir);
      for (const job of report.jobs) {
        process.stdout.write(opts.json ? `${JSON.stringify(jobJson(job))}\n` : dumpHuman(job));
      }
      for (const d of report.damage) process.stderr.write(`stalkd binlog: DAMAGE ${safeText(d)}\n`);
      if (report.damage.length > 0) process.exitCode = EXIT_DAMAGED;
    });
  return binlog;
}
