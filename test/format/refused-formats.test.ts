/**
 * Formats qemu-img recognises but CDI's validation refuses end with CDI_ERR_INVALID_FORMAT naming
 * the format qemu-img reports, instead of being written out as a raw disk.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError } from '../../src/api/errors.ts';
import { qemuImg } from '../support/qemu.ts';
import { convertWith, exists, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const images: ReadonlyArray<readonly [format: string, create: (file: string) => Promise<unknown>]> = [
  ['qed', (file) => qemuImg('create', '-q', '-f', 'qed', file, '4M')],
  ['parallels', (file) => qemuImg('create', '-q', '-f', 'parallels', file, '4M')],
  ['luks', (file) => qemuImg('create', '-q', '--object', 'secret,id=s0,data=pass', '-f', 'luks', '-o', 'key-secret=s0,iter-time=10', file, '4M')],
  ['qcow', (file) => qemuImg('create', '-q', '-f', 'qcow', file, '4M')],
];

describe('formats CDI refuses', () => {
  it.each(images.flatMap(([format, create]) => (['file', 'pipe'] as const).map((feed) => [format, feed, create] as const)))(
    '%s in %s mode',
    async (format, feed, create) => {
      const image = path.join(dir, `${format}-${feed}.img`);
      await create(image);
      expect(JSON.parse(await qemuImg('info', '--output=json', image)).format).toBe(format);
      const target = path.join(dir, `${format}-${feed}.raw`);
      const err = await convertWith(feed, image, { kind: 'file', path: target }).then(() => undefined, (e: unknown) => e);
      expect(isCdiError(err, 'CDI_ERR_INVALID_FORMAT') && err.message).toBe(`Invalid format ${format} for image source`);
      expect(await exists(target)).toBe(false);
    },
  );

  it('a gzip-wrapped qed is refused after the decompressor', async () => {
    const image = path.join(dir, 'wrapped.qed');
    await qemuImg('create', '-q', '-f', 'qed', image, '4M');
    execFileSync('gzip', ['-k', image]);
    const target = path.join(dir, 'wrapped.raw');
    const err = await convertWith('pipe', `${image}.gz`, { kind: 'file', path: target }).then(() => undefined, (e: unknown) => e);
    expect(isCdiError(err, 'CDI_ERR_INVALID_FORMAT')).toBe(true);
    expect(await exists(target)).toBe(false);
  });
});
