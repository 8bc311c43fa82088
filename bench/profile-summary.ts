/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function (top N) and the share
 * of each, so a profile can be quoted in bench/README.md ("where a request's microseconds go").
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top 30] [--ops N]
 *
 * With --ops (operations the profiled run served), each line also gives µs per operation.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function main(): void {
  const argv = process.argv.slice(2);
  const file = argv[0];
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [--top N] [--ops N]');
  let top = 30;
  let ops = 0;
  for (let i = 1; i < argv.length; i += 2) {
    if (argv[i] === '--top') top = Number(argv[i + 1]);
    else if (argv[i] === '--ops') ops = Number(argv[i + 1]);
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const n = byId.get(id);
    if (!n) return;
    const f = n.callFrame;
    const name =
      `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    if (f.functionName === '(idle)') idleUs += dt;
    else totalUs += dt;
    selfUs.set(name, (selfUs.get(name) ?? 0) + dt);
  });
  const rows = [...selfUs].filter(([n]) => !n.startsWith('(idle)')).sort((a, b) => b[1] - a[1]);
  process.stdout.write(
    `busy ${(totalUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms${ops ? `, ${ops} ops: ${(totalUs / ops).toFixed(2)} µs/op busy` : ''}\n`,
  );
  for (const [name, us] of rows.slice(0, top)) {
    const share = ((100 * us) / totalUs).toFixed(1).padStart(5);
    const per = ops ? ` ${(us / ops).toFixed(2).padStart(6)} µs/op` : '';
    process.stdout.write(`${share} %${per}  ${name}\n`);
  }
}

main();
