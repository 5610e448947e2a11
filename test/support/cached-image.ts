/**
 * Test images made by qemu-img at test time and cached under .cache/fixtures/<kind>, each with
 * the sha256 of `qemu-img convert -f <format> -O raw` of it: the reference output. The format is
 * named because qemu-img's probe cannot see some images (a fixed VHD has no leading magic).
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir, qemuImg, sha256File } from './qemu.ts';

export interface ImageRecipe {
  readonly name: string;
  build(file: string, work: string): Promise<void>;
}

export interface CachedImage {
  readonly file: string;
  readonly size: number;
  /** sha256 of qemu-img's raw conversion. */
  readonly reference: string;
}

/** The cached image and its reference digest, built on first use (safe across parallel test files). */
export async function cachedImage(kind: string, version: string, qemuFormat: string, recipe: ImageRecipe): Promise<CachedImage> {
  const dir = await cacheDir(kind);
  const file = path.join(dir, `${version}-${recipe.name}.${kind}`);
  const digestFile = `${file}.sha256`;
  try {
    const reference = (await readFile(digestFile, 'utf8')).trim();
    return { file, size: (await stat(file)).size, reference };
  } catch {
    // not cached yet
  }
  const work = await cacheDir(kind, `work-${randomUUID()}`);
  try {
    const tmp = path.join(work, `image.${kind}`);
    await recipe.build(tmp, work);
    const raw = path.join(work, 'ref.raw');
    await qemuImg('convert', '-f', qemuFormat, '-O', 'raw', tmp, raw);
    const reference = await sha256File(raw);
    await rename(tmp, file);
    const digestTmp = path.join(work, 'digest');
    await writeFile(digestTmp, reference);
    await rename(digestTmp, digestFile);
    return { file, size: (await stat(file)).size, reference };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
