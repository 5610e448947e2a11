import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes files the way the kubelet's atomic writer does: a timestamped dir, `..data` swapped by rename. */
export async function atomicWrite(dir: string, files: Record<string, string>, generation: number): Promise<void> {
  const payload = `..2026_11_30_00_00_${String(generation).padStart(2, '0')}.${process.pid}`;
  await mkdir(join(dir, payload));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, payload, name), text);
  await symlink(payload, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(dir, name)).catch(() => {});
}
