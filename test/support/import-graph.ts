/**
 * The import graph of src/, read from the TypeScript sources: for each file, what it imports
 * (relative modules resolved to files, `node:*` and packages by name) and whether an import is
 * type-only (erased at run time: it can form no runtime cycle).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ImportEdge {
  /** A src-relative file (`proxy/session/session.ts`) or a module name (`node:net`, `ws`). */
  to: string;
  typeOnly: boolean;
}

export type ImportGraph = Map<string, ImportEdge[]>;

/** `import … from '…'`, `export … from '…'`, `import '…'`, over several lines. */
const IMPORT = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*'([^']+)'|^\s*import\s+'([^']+)'/gm;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listTs(full));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** `import { type A, type B }` brings no value; `import { type A, B }` does. */
function onlyTypes(clause: string): boolean {
  const braces = /^\{([^}]*)\}$/.exec(clause.trim());
  if (!braces) return false;
  const names = (braces[1] ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

function resolve(srcRoot: string, fromFile: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(candidate)) return path.relative(srcRoot, candidate);
  }
  return path.relative(srcRoot, base);
}

export function readImportGraph(srcRoot: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of listTs(srcRoot)) {
    const text = readFileSync(file, 'utf8');
    const edges: ImportEdge[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[4] ?? m[5];
      if (spec === undefined) continue;
      const typeOnly = m[2] !== undefined || onlyTypes(m[3] ?? '');
      edges.push({ to: resolve(srcRoot, file, spec), typeOnly });
    }
    graph.set(path.relative(srcRoot, file), edges);
  }
  return graph;
}

/** The top folder of a src-relative file (`proxy`), or the file itself at the top (`version.ts`). */
export function partOf(file: string): string {
  return file.split(path.sep)[0] ?? file;
}

/** Every runtime import cycle, each as the list of files around it (one per strongly connected set). */
export function runtimeCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const e of graph.get(v) ?? []) {
      if (e.typeOnly || !graph.has(e.to)) continue;
      if (!index.has(e.to)) {
        visit(e.to);
        low.set(v, Math.min(low.get(v) as number, low.get(e.to) as number));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v) as number, index.get(e.to) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    const selfLoop = (graph.get(v) ?? []).some((e) => !e.typeOnly && e.to === v);
    if (component.length > 1 || selfLoop) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}
