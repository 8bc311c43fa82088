/**
 * What a member must remember besides its log (docs/replication.md, "Terms"): the shard it belongs
 * to, its own id, the highest term it has seen and the last term in which it was the primary.
 * `DIR/replication.state`, one JSON line, replaced atomically (temp file, fsync, rename, fsync of
 * the directory) before the member acts on a new term: a fenced member that restarts must not go
 * back to following an older primary.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const STATE_FILE = 'replication.state';

export interface MemberState {
  /** The shard's id (made by its first primary, adopted by every member that joins): 16 hex. */
  shard: string;
  /** This member's own id: 16 hex. */
  member: string;
  /** The highest term seen. */
  term: number;
  /** The last term in which this member was the primary (0: never). */
  primaryTerm: number;
}

export class StateFileError extends Error {
  readonly code = 'E_REPLICATION_STATE';
}

const ID = /^[0-9a-f]{16}$/;

export function newId(): string {
  return randomBytes(8).toString('hex');
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The state in dir, or undefined when there is none yet. A damaged file is an error, never a reset. */
export function readState(dir: string): MemberState | undefined {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new StateFileError(
      `${file} is not valid JSON; fix or remove it (a member without it rejoins as new)`,
    );
  }
  const { shard, member, term, primaryTerm } = raw;
  if (
    (shard !== '' && (typeof shard !== 'string' || !ID.test(shard))) ||
    typeof member !== 'string' ||
    !ID.test(member) ||
    !isCount(term) ||
    !isCount(primaryTerm)
  ) {
    throw new StateFileError(`${file} has unexpected contents: ${text.slice(0, 200)}`);
  }
  return { shard: shard as string, member, term, primaryTerm };
}

/** Replaces the state in dir durably. */
export function writeState(dir: string, state: MemberState): void {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(state)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * The one owner of a member's state: read (or made) once when the member opens, and every change
 * written durably before anyone acts on it.
 */
export class StateStore {
  private state: MemberState;

  constructor(private readonly dir: string) {
    const found = readState(dir);
    if (found === undefined) {
      this.state = { shard: '', member: newId(), term: 0, primaryTerm: 0 };
      writeState(dir, this.state);
    } else this.state = found;
  }

  get value(): Readonly<MemberState> {
    return this.state;
  }

  persist(change: Partial<MemberState>): void {
    this.state = { ...this.state, ...change };
    writeState(this.dir, this.state);
  }
}
