/**
 * Reading rendered deploy/k8s objects in tests: workloads by component, their pod templates and
 * containers, and the topology the proxy would load (the mounted ConfigMap with `${NAME}` expanded
 * from the proxy container's environment, as the proxy does at start).
 */
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { expandEnvironment, parseTopology, type Topology } from '../../src/proxy/topology';
import { parseOrFail } from './deploy-files';
import type { K8sObject } from './kustomize-lite';

interface Probe {
  httpGet?: { path: string; port: number | string };
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: Any }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
export interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string } }>;
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  topologySpreadConstraints?: Array<{
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }>;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
}
// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, checked field by field in the tests
export type Any = Record<string, any>;

export function findWorkload(objects: readonly K8sObject[], kind: string, component: string): Any {
  const obj = objects.find(
    (o) => o.kind === kind && o.metadata.labels?.['app.kubernetes.io/component'] === component,
  );
  assert.ok(obj, `a ${kind} for the ${component}s`);
  return obj as Any;
}

export function podOf(workload: Any): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
} {
  const t = workload.spec.template;
  return { labels: t.metadata.labels ?? {}, annotations: t.metadata.annotations ?? {}, spec: t.spec };
}

export function only<T>(items: T[] | undefined, what: string): T {
  assert.equal(items?.length, 1, `exactly one ${what}`);
  return (items as T[])[0] as T;
}

export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A probe or Service port (number or container port name) as a container port number. */
export function containerPort(c: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
}

export function containerEnv(c: Container): Record<string, string> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
}

export interface MountedTopology {
  cm: Any;
  key: string;
  /** The file as mounted, and as the proxy reads it (environment references expanded). */
  text: string;
  expanded: string;
  topology: Topology;
}

/** The topology ConfigMap the proxy Deployment mounts at its --topology path. */
export function mountedTopology(objects: readonly K8sObject[]): MountedTopology {
  const proxy = findWorkload(objects, 'Deployment', 'proxy');
  const container = only(podOf(proxy).spec.containers, 'proxy container');
  const path = parseOrFail('Deployment args', container.args ?? []).valueOf('--topology') as string;
  const mount = container.volumeMounts?.find((m) => m.mountPath === posix.dirname(path));
  assert.ok(mount, `a volume is mounted at ${posix.dirname(path)}`);
  const volume = podOf(proxy).spec.volumes?.find((v) => v.name === mount.name);
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name,
  ) as Any;
  assert.ok(cm, `volume ${mount.name} is a rendered ConfigMap`);
  const key = posix.basename(path);
  const text = cm.data[key] as string;
  const expanded = expandEnvironment(text, cm.metadata.name, containerEnv(container));
  return { cm, key, text, expanded, topology: parseTopology(JSON.parse(expanded), cm.metadata.name) };
}

/** What the controller and the kubelet add to a StatefulSet's pod `ordinal`: its name and labels. */
export function statefulPod(set: Any, ordinal: number): { name: string; labels: Record<string, string> } {
  const name = `${set.metadata.name}-${ordinal}`;
  const labels = {
    ...podOf(set).labels,
    'apps.kubernetes.io/pod-index': String(ordinal),
    'statefulset.kubernetes.io/pod-name': name,
  };
  return { name, labels };
}

/**
 * A container's environment in pod `ordinal` of StatefulSet `set`, as the kubelet makes it: field
 * references to the pod's name and labels, Secret keys from `secrets` ("name/key"), and `$(NAME)`
 * in a value expanded from the variables before it (an unknown name stays as written).
 */
export function podEnvironment(
  set: Any,
  c: Container,
  ordinal: number,
  secrets: Record<string, string>,
): Record<string, string> {
  const pod = statefulPod(set, ordinal);
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath as string | undefined;
    const secret = e.valueFrom?.secretKeyRef as { name: string; key: string } | undefined;
    if (field === 'metadata.name') env[e.name] = pod.name;
    else if (field !== undefined) {
      const label = /^metadata\.labels\['(.+)'\]$/.exec(field)?.[1];
      assert.ok(label !== undefined && label in pod.labels, `${e.name}: field ${field} of the pod`);
      env[e.name] = pod.labels[label] as string;
    } else if (secret !== undefined) {
      const value = secrets[`${secret.name}/${secret.key}`];
      assert.ok(value !== undefined, `${e.name}: Secret ${secret.name} key ${secret.key}`);
      env[e.name] = value;
    } else {
      env[e.name] = (e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => env[n] ?? m);
    }
  }
  return env;
}

/** The label that says a replicated member StatefulSet's rank (0: the initial primaries). */
export const RANK_LABEL = 'stalkd.io/rank';

export interface MemberPod {
  set: Any;
  rank: number;
  ordinal: number;
  name: string;
  labels: Record<string, string>;
  /** Its container's command line as the kubelet starts it (args + environment), parsed by the CLI. */
  args: ReturnType<typeof parseOrFail>;
}

/** The member StatefulSets of a rendered replicated tree (deploy/k8s/replicated), by rank. */
export function memberSets(objects: readonly K8sObject[]): Any[] {
  return (objects as readonly Any[])
    .filter((o) => o.kind === 'StatefulSet')
    .sort((a, b) => Number(a.metadata.labels[RANK_LABEL]) - Number(b.metadata.labels[RANK_LABEL]));
}

/** Every pod of `sets` with its command line; Secret keys from `secrets` ("name/key"). */
export function memberPods(sets: readonly Any[], secrets: Record<string, string>): MemberPod[] {
  return sets.flatMap((set) =>
    Array.from({ length: set.spec.replicas as number }, (_, ordinal) => {
      const c = only(podOf(set).spec.containers, `${set.metadata.name} container`);
      const env = podEnvironment(set, c, ordinal, secrets);
      const { name, labels } = statefulPod(set, ordinal);
      return {
        set,
        rank: Number(set.metadata.labels[RANK_LABEL]),
        ordinal,
        name,
        labels,
        args: parseOrFail(name, c.args ?? [], env),
      };
    }),
  );
}
