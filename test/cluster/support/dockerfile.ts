/**
 * A reader for the Dockerfile subset docker/Dockerfile uses: global ARGs, FROM … AS, WORKDIR,
 * COPY [--from] [--chown], RUN, ENV, USER, EXPOSE, ENTRYPOINT/CMD/HEALTHCHECK in exec form. The
 * image-tree test builds each target's files from it, so the Dockerfile stays the one source.
 */

export interface Instruction {
  keyword: string;
  flags: Record<string, string>;
  /** The arguments after the flags, as written. */
  rest: string;
}

export interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (/^\s*#/.test(line)) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim()) lines.push(current.trim());
    current = '';
  }
  return lines;
}

function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

export function parseDockerfile(text: string): Dockerfile {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const [keywordRaw = '', ...restParts] = line.split(/\s+/);
    const keyword = keywordRaw.toUpperCase();
    const argsText = restParts.join(' ');
    if (keyword === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = argsText.split('=');
      args[name] = value;
      continue;
    }
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argsText);
      if (!m) throw new Error(`cannot parse FROM ${argsText}`);
      const base = m[1]!.replace(/\$\{(\w+)\}/g, (_all, name: string) => args[name] ?? '');
      stages.push({ base, name: m[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${keyword} before FROM`);
    stage.instructions.push({ keyword, ...splitFlags(argsText) });
  }
  return { args, stages };
}

/** `["a", "b"]` → ['a', 'b']; shell form is refused (signals would go to /bin/sh, not node). */
export function execForm(rest: string): string[] {
  const parsed: unknown = JSON.parse(rest);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error(`not exec form: ${rest}`);
  return parsed;
}

export function stageByName(file: Dockerfile, name: string): Stage {
  const stage = file.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
}

export interface StageConfig {
  entrypoint: string[];
  cmd: string[];
  user: string | undefined;
  healthcheck: string[] | undefined;
  env: Record<string, string>;
  workdir: string;
}

/** The runtime config a target inherits through its FROM chain. */
export function stageConfig(file: Dockerfile, name: string): StageConfig {
  const stage = stageByName(file, name);
  const parent = file.stages.find((s) => s.name === stage.base);
  const config: StageConfig = parent ? structuredClone(stageConfig(file, parent.name!)) : { entrypoint: [], cmd: [], user: undefined, healthcheck: undefined, env: {}, workdir: '/' };
  for (const ins of stage.instructions) {
    if (ins.keyword === 'ENTRYPOINT') config.entrypoint = execForm(ins.rest);
    if (ins.keyword === 'CMD') config.cmd = execForm(ins.rest);
    if (ins.keyword === 'USER') config.user = ins.rest;
    if (ins.keyword === 'WORKDIR') config.workdir = ins.rest;
    if (ins.keyword === 'HEALTHCHECK') config.healthcheck = execForm(ins.rest.replace(/^.*?CMD\s+/, ''));
    if (ins.keyword === 'ENV') {
      for (const m of ins.rest.matchAll(/(\w+)=(\S+)/g)) config.env[m[1]!] = m[2]!;
    }
  }
  return config;
}
