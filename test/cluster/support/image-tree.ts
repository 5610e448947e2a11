import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, readlinkSync, lstatSync } from 'node:fs';
import { join, matchesGlob, relative, resolve } from 'node:path';
import type { Dockerfile, Stage } from './dockerfile.ts';

/**
 * Builds the file tree a Dockerfile stage would hold, without a container engine: COPY from the
 * context (honouring the Dockerfile's .dockerignore) and from other stages, WORKDIR, and the RUN
 * steps that work on any machine (`npm …`, `node <script>`). RUN steps that need the base image's root (apt,
 * dpkg, useradd) are returned for static checks instead of being run.
 */

export interface TreeBuild {
  /** Stage name → directory standing in for that stage's `/`. */
  roots: Map<string, string>;
  /** RUN commands not executed here, per stage. */
  skippedRuns: Map<string, string[]>;
}

export function ignoreMatcher(ignoreText: string): (path: string) => boolean {
  const patterns = ignoreText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return (path) => {
    let ignored = false;
    for (const pattern of patterns) {
      const negate = pattern.startsWith('!');
      const glob = negate ? pattern.slice(1) : pattern;
      if (matchesGlob(path, glob)) ignored = !negate;
    }
    return ignored;
  };
}

function copyFromContext(context: string, source: string, dest: string, ignored: (p: string) => boolean): void {
  const abs = resolve(context, source);
  const rel = relative(context, abs);
  if (statSync(abs).isDirectory()) {
    for (const entry of readdirSync(abs, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      const fileRel = relative(context, file);
      if (ignored(fileRel)) continue;
      const target = join(dest, relative(abs, file));
      mkdirSync(join(target, '..'), { recursive: true });
      cpSync(file, target);
    }
  } else {
    if (ignored(rel)) throw new Error(`COPY ${source}: excluded by .dockerignore`);
    mkdirSync(dest.endsWith('/') ? dest : join(dest, '..'), { recursive: true });
    cpSync(abs, dest.endsWith('/') ? join(dest, source.split('/').at(-1)!) : dest);
  }
}

/**
 * COPY --from between stages, as hard links: the same bytes as a copy for the entry points, at a
 * fraction of the cost for ~100 MB of node_modules.
 */
function linkTree(source: string, dest: string): void {
  const stat = lstatSync(source);
  if (stat.isSymbolicLink()) {
    symlinkSync(readlinkSync(source), dest);
  } else if (stat.isDirectory()) {
    mkdirSync(dest, { recursive: true });
    for (const entry of readdirSync(source)) linkTree(join(source, entry), join(dest, entry));
  } else {
    mkdirSync(join(dest, '..'), { recursive: true });
    try {
      linkSync(source, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      cpSync(source, dest);
    }
  }
}

/** npm steps are cached under .cache/ by lockfile, so reruns of the test cost a copy. */
function runNpm(command: string, cwd: string, cacheDir: string): void {
  const key = createHash('sha256')
    .update(command)
    .update(readFileSync(join(cwd, 'package.json')))
    .update(readFileSync(join(cwd, 'package-lock.json')))
    .digest('hex')
    .slice(0, 16);
  const cached = join(cacheDir, key, 'node_modules');
  if (!existsSync(cached)) {
    const work = join(cacheDir, `${key}.partial`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    cpSync(join(cwd, 'package.json'), join(work, 'package.json'));
    cpSync(join(cwd, 'package-lock.json'), join(work, 'package-lock.json'));
    execFileSync('/bin/sh', ['-c', command], { cwd: work, stdio: 'pipe' });
    mkdirSync(join(cacheDir, key), { recursive: true });
    renameSync(join(work, 'node_modules'), cached);
    rmSync(work, { recursive: true, force: true });
  }
  linkTree(cached, join(cwd, 'node_modules'));
}

export function buildTree(file: Dockerfile, target: string, opts: { context: string; ignoreText: string; workDir: string; cacheDir: string }): TreeBuild {
  const ignored = ignoreMatcher(opts.ignoreText);
  const build: TreeBuild = { roots: new Map(), skippedRuns: new Map() };

  const buildStage = (stage: Stage): string => {
    const name = stage.name ?? `stage${file.stages.indexOf(stage)}`;
    const existing = build.roots.get(name);
    if (existing) return existing;
    const root = join(opts.workDir, name);
    const parent = file.stages.find((s) => s.name === stage.base);
    if (parent) linkTree(buildStage(parent), root);
    mkdirSync(root, { recursive: true });
    let workdir = '/';
    for (const ins of stage.instructions) {
      if (ins.keyword === 'WORKDIR') {
        workdir = resolve(workdir, ins.rest);
        mkdirSync(join(root, workdir), { recursive: true });
      } else if (ins.keyword === 'COPY') {
        const parts = ins.rest.split(/\s+/);
        const dest = parts.pop()!;
        const destAbs = join(root, resolve(workdir, dest)) + (dest.endsWith('/') ? '/' : '');
        for (const source of parts) {
          if (ins.flags.from) {
            const fromRoot = buildStage(file.stages.find((s) => s.name === ins.flags.from)!);
            linkTree(join(fromRoot, source), destAbs);
          } else {
            copyFromContext(opts.context, source, destAbs, ignored);
          }
        }
      } else if (ins.keyword === 'RUN') {
        if (/^npm\s/.test(ins.rest)) runNpm(ins.rest, join(root, workdir), opts.cacheDir);
        // a build step that is a Node script (scripts/build-workers.ts) runs with this Node 24
        else if (/^node\s/.test(ins.rest)) execFileSync(process.execPath, ins.rest.split(/\s+/).slice(1), { cwd: join(root, workdir), stdio: 'pipe' });
        else build.skippedRuns.set(name, [...(build.skippedRuns.get(name) ?? []), ins.rest]);
      }
    }
    build.roots.set(name, root);
    return root;
  };

  buildStage(file.stages.find((s) => s.name === target)!);
  return build;
}
