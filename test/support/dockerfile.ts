/**
 * A Dockerfile reader for structure checks (no Docker engine on test machines): instructions with
 * their `--flag=value` options, grouped into build stages. Follows the Dockerfile rules that matter
 * for that: `\` continues a line, `#` lines are comments (also inside a continued instruction),
 * keywords are case-insensitive, and exec form is a JSON array of strings.
 */

export interface DockerInstruction {
  keyword: string;
  /** Text after the keyword and its flags. */
  args: string;
  flags: Record<string, string>;
  /** 1-based line where the instruction starts. */
  line: number;
}

export interface DockerStage {
  /** Base image (`FROM image AS name`). */
  image: string;
  name?: string;
  instructions: DockerInstruction[];
}

export interface Dockerfile {
  stages: DockerStage[];
}

function splitFlags(text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = text.trimStart();
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    flags[m[1] as string] = m[2] as string;
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

export function parseDockerfile(text: string): Dockerfile {
  const stages: DockerStage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = (lines[i] as string).trim();
    if (first === '' || first.startsWith('#')) continue;
    const start = i + 1;
    let logical = first;
    while (logical.endsWith('\\') && i + 1 < lines.length) {
      logical = logical.slice(0, -1);
      i++;
      const next = (lines[i] as string).trim();
      if (!next.startsWith('#')) logical += ` ${next}`;
    }
    const m = /^(\S+)\s*(.*)$/.exec(logical);
    if (!m) continue;
    const keyword = (m[1] as string).toUpperCase();
    const { flags, rest } = splitFlags(m[2] as string);
    const instruction: DockerInstruction = { keyword, args: rest, flags, line: start };
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) throw new Error(`line ${start}: cannot read FROM ${rest}`);
      const stage: DockerStage = { image: from[1] as string, instructions: [instruction] };
      if (from[2]) stage.name = from[2];
      stages.push(stage);
    } else {
      const stage = stages[stages.length - 1];
      // ARG before the first FROM declares build arguments for the FROM lines (argDefaults).
      if (!stage && keyword === 'ARG') continue;
      if (!stage) throw new Error(`line ${start}: ${keyword} before the first FROM`);
      stage.instructions.push(instruction);
    }
  }
  return { stages };
}

/** The exec-form array of an ENTRYPOINT/CMD/RUN argument, or null for shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  const value: unknown = JSON.parse(args);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`not a JSON array of strings: ${args}`);
  }
  return value;
}

/** The last instruction with `keyword` in a stage (the one that takes effect), if any. */
export function lastInstruction(stage: DockerStage, keyword: string): DockerInstruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/**
 * A stage as the builder sees it: the instructions of the stages it is built FROM (`FROM base AS
 * runtime` inherits base's USER, ENTRYPOINT, HEALTHCHECK …) followed by its own.
 */
export function effectiveStage(dockerfile: Dockerfile, stage: DockerStage): DockerStage {
  const parent = dockerfile.stages.find((s) => s.name !== undefined && s.name === stage.image);
  if (!parent || parent === stage) return stage;
  const inherited = effectiveStage(dockerfile, parent);
  return {
    ...stage,
    image: inherited.image,
    instructions: [...inherited.instructions, ...stage.instructions],
  };
}

/** `ARG NAME=default` values declared before the first FROM or in a stage, by name. */
export function argDefaults(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/gm))
    out[m[1] as string] = m[2] as string;
  return out;
}
