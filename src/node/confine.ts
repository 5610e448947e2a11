import fs from 'node:fs';
import path from 'node:path';
import type { ConfinedPath } from './pod-plan.ts';

/**
 * Checks on disk that a path a pod uses stays inside its volume: every component that exists is
 * followed (a symlink an earlier worker left in the volume included) and must resolve inside the
 * volume's real path. Missing subPath directories are created one component at a time, as the
 * kubelet creates them, so nothing is ever created outside. Returns why not, or undefined.
 */
export async function confinementProblem(c: ConfinedPath): Promise<string | undefined> {
  const root = await fs.promises.realpath(c.root).catch(() => undefined);
  if (root === undefined) return `${c.what}: volume ${c.root} does not exist`;
  const rel = path.relative(c.root, c.path);
  if (rel === '') return undefined;
  if (rel.startsWith('..') || path.isAbsolute(rel)) return `${c.what} is outside its volume`;
  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  let current = root;
  for (const part of rel.split(path.sep)) {
    const next = path.join(current, part);
    const info = await fs.promises.lstat(next).catch(() => undefined);
    if (!info) {
      if (!c.createDir) return undefined;
      await fs.promises.mkdir(next);
      current = next;
      continue;
    }
    current = info.isSymbolicLink() ? await fs.promises.realpath(next).catch(() => '') : next;
    if (!inside(current)) return `${c.what} resolves outside its volume (a symlink in the volume points elsewhere)`;
  }
  return undefined;
}
