import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageDirSource } from './image-dir-source.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-image-dir-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function image(name: string, files: Record<string, string>): Promise<string> {
  const root = path.join(dir, name);
  await mkdir(path.join(root, 'disk'), { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(path.join(root, 'disk', f), text);
  return root;
}

describe('the image a node pulled, read from its directory', () => {
  it('streams the one disk file and counts it', async () => {
    const source = await openImageDirSource(await image('one', { 'disk.qcow2': 'abcdef' }), 'docker://r/i:1');
    if (source.input.kind !== 'stream') throw new Error('stream expected');
    const chunks: Uint8Array[] = [];
    for await (const c of source.input.stream) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('abcdef');
    expect(source.meter).toMatchObject({ done: 6, total: 6 });
    await source.close();
  });

  it('refuses no disk, two disks, and a directory under disk/ with the registry source codes', async () => {
    await expect(openImageDirSource(path.join(dir, 'absent'), 'x')).rejects.toMatchObject({ code: 'CDI_ERR_REGISTRY_NO_DISK' });
    await expect(openImageDirSource(await image('two', { a: '1', b: '2' }), 'x')).rejects.toMatchObject({ code: 'CDI_ERR_REGISTRY_DISKS', message: 'image directory contains more than one file: a, b' });
    const nested = await image('nested', {});
    await mkdir(path.join(nested, 'disk', 'sub'));
    await expect(openImageDirSource(nested, 'x')).rejects.toMatchObject({ code: 'CDI_ERR_REGISTRY_NO_DISK' });
  });
});
