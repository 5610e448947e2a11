/**
 * What a streamed image may keep in scratch: at most the target's capacity (upstream stages such
 * an image on a scratch volume the size of the target), and at most the caller's spillLimit.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdiError } from '../../src/api/errors.ts';
import type { CachedImage } from '../support/cached-image.ts';
import { sha256File } from '../support/qemu.ts';
import { gzipTo, stackedSnapshotsImage, stackedSnapshotsVirtualSize } from '../support/spilling-image.ts';
import { convertWith, exists, tempDir } from './helpers.ts';

const MiB = 1 << 20;
let image: CachedImage;
let gz: string;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  image = await stackedSnapshotsImage();
  ({ dir, cleanup } = await tempDir());
  gz = path.join(dir, 'stacked.qcow2.gz');
  await gzipTo(image.file, gz);
});
afterAll(() => cleanup());

async function scratch(name: string): Promise<string> {
  const s = path.join(dir, `scratch-${name}`);
  await mkdir(s);
  return s;
}

describe('spill limit', () => {
  it('converts an image that spills less than the target holds, like qemu-img', async () => {
    const out = path.join(dir, 'fits.img');
    const scratchDir = await scratch('fits');
    const result = await convertWith('pipe', gz, { kind: 'file', path: out }, { capacity: 4 * MiB, scratchDir });
    expect(result.spillBytes).toBeGreaterThan(2 * stackedSnapshotsVirtualSize);
    expect(await sha256File(out)).toBe(image.reference);
    expect(await readdir(scratchDir)).toEqual([]);
  });

  it.each([
    ['the target\'s capacity', { capacity: 2 * MiB }, 2 * MiB],
    ['the caller\'s spillLimit', { spillLimit: MiB }, MiB],
  ])('stops at %s with CDI_ERR_SCRATCH_LIMIT and leaves neither target nor scratch file', async (what, options, limit) => {
    const out = path.join(dir, `over-${limit}.img`);
    const scratchDir = await scratch(`over-${limit}`);
    const err = await convertWith('pipe', gz, { kind: 'file', path: out }, { ...options, scratchDir }).then(() => undefined, (e: unknown) => e);
    expect(err, what).toBeInstanceOf(CdiError);
    expect(err).toMatchObject({ code: 'CDI_ERR_SCRATCH_LIMIT', message: `scratch space limit of ${limit} bytes exceeded` });
    expect(await exists(out)).toBe(false);
    expect(await readdir(scratchDir)).toEqual([]);
  });
});
