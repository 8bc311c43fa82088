/**
 * Writing a pin into a topology file (the dashboard's "move tube T to node N", docs/migration.md):
 * the file every proxy following it reads, so that they all route T to N — a pin held in one
 * proxy's memory would split the cluster's routing.
 *
 * The file's own JSON is edited (not the environment-expanded text, so `${VAR}` references stay),
 * checked by the validator every proxy uses (topology.ts) before anything is written, and replaced
 * atomically: a temporary file beside it, fsync, rename — a proxy reading it meanwhile sees the old
 * text or the new, never half. A symlink (a ConfigMap's `..data/…`) is written through to its target.
 * A file that cannot be written (a ConfigMap is mounted read-only, a bind mount `:ro`, a root-owned
 * file of a proxy run with `-u`) is refused with the pin to apply by hand.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { expandEnvironment, parseTopology, type Topology } from '../proxy/topology';

export class PinError extends Error {
  constructor(
    /** `invalid`: the request or the file; `read-only`: the file cannot be written. */
    readonly reason: 'invalid' | 'read-only',
    message: string,
  ) {
    super(message);
  }
}

/** The errno codes that mean "this file may not be written here". */
const READ_ONLY_CODES = new Set(['EROFS', 'EACCES', 'EPERM', 'EBUSY']);

/** What an operator applies by hand: the pins object with the new pin, and the steps. */
export function pinInstructions(
  file: string,
  pins: Record<string, string>,
  tube: string,
  node: string,
): string {
  const all = JSON.stringify({ ...pins, [tube]: node });
  return [
    `apply the pin yourself: set "pins" in ${file} to ${all}`,
    'then let every proxy reload it (SIGHUP, or wait: they follow the file; stalkd_proxy_topology_version shows it) and run',
    `  stalkd migrate --topology ${file}`,
    'In Kubernetes: add the pin to cluster/kubernetes.json, kubectl apply -k deploy/k8s/base (a new ConfigMap rolls the proxies), ' +
      'then kubectl -n stalkd delete job stalkd-migrate --ignore-not-found && kubectl apply -k deploy/k8s/migrate (docs/deploy.md).',
  ].join('\n');
}

function readDocument(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PinError('invalid', `${file}: cannot be read as JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new PinError('invalid', `${file}: not a JSON object`);
  return raw as Record<string, unknown>;
}

/** Writes `text` to `file` by a temporary file beside it and a rename. */
function replaceAtomically(file: string, text: string): void {
  const target = realpathSync(file);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(temp, 'wx', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

export interface PinResult {
  /** False when the pin was there already (nothing written). */
  written: boolean;
  /** The topology as the file now describes it. */
  topology: Topology;
}

/**
 * Pins `tube` to node `node` in `file`. Throws PinError: `invalid` with the validator's own words
 * (an unknown or leaving node, a name that is no tube name), `read-only` with pinInstructions.
 */
export function pinTube(file: string, tube: string, node: string): PinResult {
  const doc = readDocument(file);
  const pins = (doc.pins ?? {}) as Record<string, string>;
  const next = { ...doc, pins: { ...pins, [tube]: node } };
  const text = `${JSON.stringify(next, null, 2)}\n`;
  let topology: Topology;
  try {
    topology = parseTopology(JSON.parse(expandEnvironment(text, file)), file);
  } catch (err) {
    throw new PinError('invalid', (err as Error).message);
  }
  if (pins[tube] === node) return { written: false, topology };
  try {
    replaceAtomically(file, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!READ_ONLY_CODES.has(code)) throw err;
    throw new PinError(
      'read-only',
      `the topology file ${file} cannot be written (${code}: a ConfigMap or a :ro mount is read-only); ` +
        pinInstructions(file, pins, tube, node),
    );
  }
  return { written: true, topology };
}
