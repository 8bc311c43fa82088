/**
 * Imports point one way (house style, "Boundaries"): each part of src/ may import only the parts
 * listed for it below, protocol and engine use no node:* module, and no runtime import cycle exists
 * anywhere (type-only imports are erased, so they cannot form one). The checks also run on a small
 * made-up graph, so they are known to catch what they look for.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { type ImportGraph, partOf, readImportGraph, runtimeCycles } from '../support/import-graph';

/** dist/test/layers → the repository's src/. */
const SRC = path.join(__dirname, '..', '..', '..', 'src');

/**
 * What each part may import besides itself. A part not listed (a new folder) may import anything
 * but cli and dashboard, and the parts below cannot import it, since their lists do not name it.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'version.ts': [],
  types: [],
  protocol: [],
  engine: [],
  net: [],
  client: ['protocol', 'net'],
  binlog: ['engine', 'protocol', 'net'],
  server: ['engine', 'protocol', 'net', 'binlog', 'version.ts'],
  replication: ['engine', 'protocol', 'net', 'binlog', 'server'],
  proxy: ['protocol', 'net', 'version.ts'],
  metrics: ['engine', 'protocol', 'net', 'server', 'version.ts'],
  dashboard: ['client', 'protocol', 'net', 'metrics', 'version.ts'],
};
const NEVER_BELOW_TOP = ['cli', 'dashboard'];
/** Parts that run anywhere: no Node built-ins (the engine takes a Clock; protocol works on Buffers). */
const NO_NODE_BUILTINS = ['protocol', 'engine'];

function forbiddenImports(graph: ImportGraph): string[] {
  const bad: string[] = [];
  for (const [file, edges] of graph) {
    const from = partOf(file);
    if (from === 'cli') continue;
    for (const edge of edges) {
      if (edge.to.startsWith('node:')) {
        if (NO_NODE_BUILTINS.includes(from)) bad.push(`${file} → ${edge.to}`);
        continue;
      }
      if (!graph.has(edge.to)) continue; // a package
      const to = partOf(edge.to);
      if (to === from) continue;
      const allowed = MAY_IMPORT[from];
      if (allowed ? !allowed.includes(to) : NEVER_BELOW_TOP.includes(to)) bad.push(`${file} → ${edge.to}`);
    }
  }
  return bad;
}

test('imports: every part of src imports only the parts below it', () => {
  assert.deepEqual(forbiddenImports(readImportGraph(SRC)), []);
});

test('imports: no runtime import cycle in src', () => {
  assert.deepEqual(runtimeCycles(readImportGraph(SRC)), []);
});

test('imports: the checks catch a forbidden import, a Node built-in in the engine and a cycle', () => {
  const graph: ImportGraph = new Map([
    ['protocol/a.ts', [{ to: 'engine/b.ts', typeOnly: true }]],
    ['engine/b.ts', [{ to: 'node:fs', typeOnly: false }]],
    [
      'proxy/c.ts',
      [
        { to: 'proxy/d.ts', typeOnly: false },
        { to: 'server/e.ts', typeOnly: false },
      ],
    ],
    ['proxy/d.ts', [{ to: 'proxy/c.ts', typeOnly: false }]],
    ['proxy/f.ts', [{ to: 'proxy/g.ts', typeOnly: true }]],
    ['proxy/g.ts', [{ to: 'proxy/f.ts', typeOnly: false }]],
    ['server/e.ts', []],
  ]);
  assert.deepEqual(forbiddenImports(graph), [
    'protocol/a.ts → engine/b.ts',
    'engine/b.ts → node:fs',
    'proxy/c.ts → server/e.ts',
  ]);
  assert.deepEqual(runtimeCycles(graph), [['proxy/c.ts', 'proxy/d.ts']]);
});

test('imports: the graph reader sees multi-line, type-only and re-export imports', () => {
  const graph = readImportGraph(SRC);
  const handlers = graph.get(path.join('proxy', 'handlers.ts')) ?? [];
  assert.ok(handlers.some((e) => e.to === path.join('protocol', 'request-line.ts') && !e.typeOnly));
  assert.ok(handlers.some((e) => e.to === path.join('proxy', 'types.ts') && e.typeOnly));
  const clientIndex = graph.get(path.join('client', 'index.ts')) ?? [];
  assert.ok(clientIndex.some((e) => e.to === path.join('protocol', 'reply-parser.ts')));
});
