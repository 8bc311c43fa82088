/**
 * A renderer for the subset of kustomize that deploy/k8s uses, so the tree renders in `npm test`
 * on machines without kubectl (no kustomize renderer is published on npm; kubectl is not in
 * Debian's or npm's registries). Where `kubectl` is installed, test/deploy-k8s.test.ts renders the
 * same trees with the real `kubectl kustomize` and requires identical objects, which keeps this
 * subset honest.
 *
 * Supported, with kustomize's semantics:
 *   resources          YAML files (multi-document) at or below the kustomization's directory, and
 *                      directories holding a kustomization anywhere except at or above it
 *   configMapGenerator name + files (`key=path` or `path`) + literals (`key=value`); the name gets
 *                      kustomize's content-hash suffix unless generatorOptions.disableNameSuffixHash,
 *                      and every ConfigMap reference in a pod spec follows the rename
 *   generatorOptions   disableNameSuffixHash, labels, annotations (per generator too, `options`)
 *   namespace          set on every namespaced object
 *   namePrefix         prepended to every object's name; the references kustomize follows for these
 *                      trees follow it (StatefulSet serviceName, ConfigMaps in pod specs)
 *   labels             pairs added to each object's metadata.labels (includeSelectors and
 *                      includeTemplates false only)
 *   replacements       inline, run last (kustomize-replacements.ts)
 * Anything else in a kustomization is an error naming the field, never silently ignored.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyReplacement, ORIGINAL_NAMES, type Replacement } from './kustomize-replacements';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export class KustomizeError extends Error {
  readonly code = 'E_KUSTOMIZE';
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'configMapGenerator',
  'generatorOptions',
  'namePrefix',
  'replacements',
]);
/** Kinds without a namespace (the ones kustomize's namespace transformer skips). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
]);

/** Generated ConfigMaps whose hash suffix is still to be applied: object → name before the suffix. */
type Pending = Map<K8sObject, string>;

interface GeneratorOptions {
  disableNameSuffixHash?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Kustomization {
  namespace?: string;
  namePrefix?: string;
  replacements?: Replacement[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }>;
  resources?: string[];
  configMapGenerator?: Array<{
    name: string;
    files?: string[];
    literals?: string[];
    options?: GeneratorOptions;
    [k: string]: unknown;
  }>;
  generatorOptions?: GeneratorOptions;
}

const GENERATOR_OPTIONS = new Set(['disableNameSuffixHash', 'labels', 'annotations']);

function fail(dir: string, message: string): never {
  throw new KustomizeError(`${dir}: ${message}`);
}

function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

function readKustomization(dir: string): Kustomization {
  const file = KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) fail(dir, 'no kustomization.yaml');
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const first = docs[0];
  if (docs.length !== 1 || !first || first.errors.length > 0)
    fail(dir, 'kustomization is not one YAML document');
  const k = first.toJS() as Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_KEYS.has(key)) fail(dir, `kustomize-lite does not implement "${key}"`);
  }
  const options = (k.generatorOptions ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!GENERATOR_OPTIONS.has(key)) fail(dir, `kustomize-lite does not implement generatorOptions.${key}`);
  }
  return k as Kustomization;
}

function readResourceFile(dir: string, path: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length > 0) fail(dir, `${path}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value === null) continue;
    if (!value.apiVersion || !value.kind || !value.metadata?.name) {
      fail(dir, `${path}: every object needs apiVersion, kind and metadata.name`);
    }
    objects.push(value);
  }
  return objects;
}

/** kustomize's `key=path` / `path` file source, restricted to the kustomization's directory. */
function readFileSource(dir: string, source: string): [string, string] {
  const eq = source.indexOf('=');
  const key = eq >= 0 ? source.slice(0, eq) : basename(source);
  const path = resolve(dir, eq >= 0 ? source.slice(eq + 1) : source);
  if (!isWithin(dir, path)) fail(dir, `${source}: generator files must be at or below the kustomization`);
  return [key, readFileSync(path, 'utf8')];
}

function generateConfigMaps(dir: string, k: Kustomization, pending: Pending): K8sObject[] {
  const out: K8sObject[] = [];
  for (const gen of k.configMapGenerator ?? []) {
    for (const key of Object.keys(gen)) {
      if (!['name', 'files', 'literals', 'options'].includes(key)) {
        fail(dir, `kustomize-lite does not implement configMapGenerator.${key}`);
      }
    }
    for (const key of Object.keys(gen.options ?? {})) {
      if (!GENERATOR_OPTIONS.has(key)) fail(dir, `kustomize-lite does not implement options.${key}`);
    }
    const data: Record<string, string> = {};
    for (const source of gen.files ?? []) {
      const [key, value] = readFileSource(dir, source);
      data[key] = value;
    }
    for (const literal of gen.literals ?? []) {
      const eq = literal.indexOf('=');
      if (eq <= 0) fail(dir, `literal "${literal}" is not key=value`);
      data[literal.slice(0, eq)] = literal.slice(eq + 1);
    }
    const options = { ...k.generatorOptions, ...gen.options };
    const metadata: K8sObject['metadata'] = { name: gen.name };
    if (options.labels) metadata.labels = { ...options.labels };
    if (options.annotations) metadata.annotations = { ...options.annotations };
    const cm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
    if (options.disableNameSuffixHash !== true) pending.set(cm, gen.name);
    out.push(cm);
  }
  return out;
}

/**
 * kustomize's ConfigMap hash: sha256 over Go's json.Marshal of {data, kind, name} with sorted
 * keys, first 10 hex digits with 0/1/3/a/e replaced (g/h/k/m/t) so the suffix never reads as a
 * number or a word. kustomize looks the name up with a path its YAML library treats as one literal
 * key, so "name" is always "" — reproduced here because the suffix must match kubectl's.
 */
export function configMapHashSuffix(data: Record<string, string>): string {
  const sorted = Object.fromEntries(
    Object.keys(data)
      .sort()
      .map((key) => [key, data[key]]),
  );
  // Go escapes <, > and & (and U+2028/9) in JSON strings; JSON.stringify does not.
  const json = JSON.stringify({ data: sorted, kind: 'ConfigMap', name: '' }).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const hex = createHash('sha256').update(json).digest('hex').slice(0, 10);
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.replace(/[013ae]/g, (c) => swap[c] ?? c);
}

interface NameRef {
  name?: string;
}
interface ContainerRefs {
  env?: Array<{ valueFrom?: { configMapKeyRef?: NameRef } }>;
  envFrom?: Array<{ configMapRef?: NameRef }>;
}
interface PodSpecRefs {
  volumes?: Array<{ configMap?: NameRef; projected?: { sources?: Array<{ configMap?: NameRef }> } }>;
  containers?: ContainerRefs[];
  initContainers?: ContainerRefs[];
}

/** The value at `path` below `value`, or undefined. */
function dig(value: unknown, ...path: string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** Every pod spec inside a workload object. */
function podSpecsOf(obj: K8sObject): PodSpecRefs[] {
  const path =
    obj.kind === 'Pod'
      ? ['spec']
      : obj.kind === 'CronJob'
        ? ['spec', 'jobTemplate', 'spec', 'template', 'spec']
        : ['spec', 'template', 'spec'];
  const spec = dig(obj, ...path);
  return typeof spec === 'object' && spec !== null ? [spec as PodSpecRefs] : [];
}

/** Renames with namePrefix, and the references to renamed objects that kustomize follows here. */
function prefixNames(objects: K8sObject[], prefix: string, pending: Pending): void {
  for (const obj of objects) {
    const from = obj.metadata.name;
    const to = `${prefix}${from}`;
    obj.metadata.name = to;
    if (obj.kind === 'ConfigMap') {
      renameConfigMapRefs(objects, obj.metadata.namespace, from, to);
      if (pending.has(obj)) pending.set(obj, to);
    }
    if (obj.kind === 'Service') {
      for (const sts of objects) {
        const spec = sts.spec as { serviceName?: string } | undefined;
        if (
          sts.kind === 'StatefulSet' &&
          sts.metadata.namespace === obj.metadata.namespace &&
          spec?.serviceName === from
        )
          spec.serviceName = to;
      }
    }
  }
}

/** Points every ConfigMap reference named `from` (same namespace) at `to`. */
function renameConfigMapRefs(
  objects: K8sObject[],
  namespace: string | undefined,
  from: string,
  to: string,
): void {
  const fix = (ref: NameRef | undefined): void => {
    if (ref && ref.name === from) ref.name = to;
  };
  for (const obj of objects) {
    if (obj.metadata.namespace !== namespace) continue;
    for (const pod of podSpecsOf(obj)) {
      for (const v of pod.volumes ?? []) {
        fix(v.configMap);
        for (const s of v.projected?.sources ?? []) fix(s.configMap);
      }
      for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
        for (const e of c.env ?? []) fix(e.valueFrom?.configMapKeyRef);
        for (const e of c.envFrom ?? []) fix(e.configMapRef);
      }
    }
  }
}

function idOf(obj: K8sObject): string {
  return `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace ?? '~'}/${obj.metadata.name}`;
}

function build(dir: string, pending: Pending, visiting: string[]): K8sObject[] {
  if (visiting.includes(dir)) fail(dir, 'cycle in resources');
  const k = readKustomization(dir);
  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) fail(dir, `resource ${entry} does not exist`);
    if (statSync(path).isDirectory()) {
      if (isWithin(path, dir)) fail(dir, `${entry}: a base may not be this directory or above it`);
      objects.push(...build(path, pending, [...visiting, dir]));
    } else {
      if (!isWithin(dir, path)) fail(dir, `${entry}: resource files must be at or below the kustomization`);
      objects.push(...readResourceFile(dir, path));
    }
  }
  objects.push(...generateConfigMaps(dir, k, pending));
  for (const obj of objects) if (!ORIGINAL_NAMES.has(obj)) ORIGINAL_NAMES.set(obj, obj.metadata.name);
  for (const obj of objects) {
    if (k.namespace && !CLUSTER_SCOPED.has(obj.kind)) obj.metadata.namespace = k.namespace;
    for (const label of k.labels ?? []) {
      if (label.includeSelectors || label.includeTemplates) {
        fail(dir, 'kustomize-lite implements labels only with includeSelectors/includeTemplates false');
      }
      obj.metadata.labels = { ...obj.metadata.labels, ...label.pairs };
    }
  }
  if (k.namePrefix) prefixNames(objects, k.namePrefix, pending);
  for (const r of k.replacements ?? []) applyReplacement(objects, r, (message) => fail(dir, message));
  const seen = new Set<string>();
  for (const obj of objects) {
    const id = idOf(obj);
    if (seen.has(id)) fail(dir, `${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

/** Renders the kustomization in `dir` like `kubectl kustomize dir` (object order aside). */
export function renderKustomization(dir: string): K8sObject[] {
  const root = resolve(dir);
  const pending: Pending = new Map();
  const objects = build(root, pending, []);
  for (const [cm, name] of pending) {
    const hashed = `${name}-${configMapHashSuffix(cm.data as Record<string, string>)}`;
    cm.metadata.name = hashed;
    renameConfigMapRefs(objects, cm.metadata.namespace, name, hashed);
  }
  return objects;
}

/** Stable order for comparing renders: by kind, namespace, name. */
export function sortObjects(objects: K8sObject[]): K8sObject[] {
  return [...objects].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
}
