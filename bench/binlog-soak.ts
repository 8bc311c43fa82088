/**
 * The long version of the binlog crash test: SIGKILLs a process logging from 8 concurrent writers in
 * -f 0 KILLS times (default 200) on one directory, checking after every restart that no put reported
 * durable was lost, no delete reported durable came back and no id was handed out twice.
 *
 *   node dist/bench/binlog-soak.js [--kills 200] [--dir /path/on/the/disk/to/test]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crashRounds } from '../test/support/binlog-crash';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

async function main(): Promise<void> {
  const kills = Number(flag('kills', '200'));
  const dir = fs.mkdtempSync(path.join(flag('dir', os.tmpdir()), 'stalkd-soak-'));
  const started = Date.now();
  try {
    const totals = await crashRounds(dir, kills, (run, t) => {
      if (run % 10 === 0)
        console.log(`kill ${run}: ${t.puts} puts, ${t.deletes} deletes acknowledged, ${t.live} live`);
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    console.log(
      `OK: ${totals.kills} kills in ${seconds} s, ${totals.puts} durable puts and ${totals.deletes} durable deletes checked`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`FAILED: ${err.message}`);
  process.exit(1);
});
