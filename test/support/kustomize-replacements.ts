/**
 * kustomize's `replacements` for kustomize-lite: copy one field of one object into fields of
 * others, after the kustomization's other transformers (namePrefix included). Supported, with
 * kustomize's semantics: inline entries; `source` by kind and name (the name as written or as
 * renamed) and `fieldPath` (default metadata.name); `targets` with `select` by kind and name and
 * `fieldPaths` in kustomize's syntax (`a.b.[name=x].c`). A target path that does not exist is an
 * error, as in kustomize without `options.create`. Anything else is an error naming it.
 */
import type { K8sObject } from './kustomize-lite';

export interface Replacement {
  source: { kind: string; name: string; fieldPath?: string; [k: string]: unknown };
  targets: Array<{ select: { kind: string; name?: string; [k: string]: unknown }; fieldPaths: string[] }>;
  [k: string]: unknown;
}

/** The name each object had when read or generated, before any namePrefix or hash suffix. */
export const ORIGINAL_NAMES = new WeakMap<K8sObject, string>();

function selects(obj: K8sObject, kind: string, name: string | undefined): boolean {
  return (
    obj.kind === kind &&
    (name === undefined || obj.metadata.name === name || ORIGINAL_NAMES.get(obj) === name)
  );
}

type Step = { key: string } | { match: [string, string] };

function parsePath(path: string): Step[] {
  const steps: Step[] = [];
  for (const part of path.match(/\[[^\]]*\]|[^.]+/g) ?? []) {
    const m = /^\[([^=\]]+)=([^\]]*)\]$/.exec(part);
    steps.push(m ? { match: [m[1] as string, m[2] as string] } : { key: part });
  }
  return steps;
}

/** The container holding the last step of `path`, and that step's key (or index). */
function locate(
  obj: unknown,
  steps: Step[],
): { parent: Record<string | number, unknown>; key: string | number } | undefined {
  let at: unknown = obj;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    if ('match' in step) {
      if (!Array.isArray(at)) return undefined;
      const [k, v] = step.match;
      const index = at.findIndex((el) => typeof el === 'object' && el !== null && String(el[k]) === v);
      if (index < 0) return undefined;
      if (i === steps.length - 1) return { parent: at as unknown as Record<number, unknown>, key: index };
      at = at[index];
    } else {
      if (typeof at !== 'object' || at === null || !(step.key in at)) return undefined;
      if (i === steps.length - 1) return { parent: at as Record<string, unknown>, key: step.key };
      at = (at as Record<string, unknown>)[step.key];
    }
  }
  return undefined;
}

function checkKeys(value: object, allowed: string[], where: string, fail: (m: string) => never): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`kustomize-lite does not implement ${where}.${key}`);
  }
}

export function applyReplacement(
  objects: K8sObject[],
  r: Replacement,
  fail: (message: string) => never,
): void {
  checkKeys(r, ['source', 'targets'], 'replacements', fail);
  checkKeys(r.source, ['kind', 'name', 'fieldPath'], 'replacements.source', fail);
  const sources = objects.filter((o) => selects(o, r.source.kind, r.source.name));
  if (sources.length !== 1)
    fail(`replacement source ${r.source.kind}/${r.source.name}: ${sources.length} matches`);
  const sourcePath = r.source.fieldPath ?? 'metadata.name';
  const found = locate(sources[0], parsePath(sourcePath));
  if (!found) fail(`replacement source ${r.source.kind}/${r.source.name}: no field ${sourcePath}`);
  const value = found.parent[found.key];
  for (const target of r.targets) {
    checkKeys(target, ['select', 'fieldPaths'], 'replacements.targets', fail);
    checkKeys(target.select, ['kind', 'name'], 'replacements.targets.select', fail);
    for (const obj of objects.filter((o) => selects(o, target.select.kind, target.select.name))) {
      for (const path of target.fieldPaths) {
        const at = locate(obj, parsePath(path));
        if (!at) fail(`replacement target ${obj.kind}/${obj.metadata.name}: no field ${path}`);
        at.parent[at.key] = value;
      }
    }
  }
}
