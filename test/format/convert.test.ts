/**
 * Every image, bare and in each compression, converted in file mode and pipe mode: the output
 * must be byte-identical (sha256) to `qemu-img convert -O raw` of the same image, and sparse.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/format/index.ts';
import { sha256File } from '../support/qemu.ts';
import { compressions, formatFixtures, images, tinyImages, type FormatFixtures } from '../support/fixtures-format.ts';
import { allocatedBytes, convertWith, tempDir, type Feed } from './helpers.ts';

let fx: FormatFixtures;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  fx = await formatFixtures();
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const formatOf = (name: string): string => (name.endsWith('.qcow2') ? 'qcow2' : name.endsWith('.iso') ? 'iso' : 'raw');
const wrapperOf: Record<string, string[]> = { '': [], '.gz': ['gzip'], '.xz': ['xz'], '.zst': ['zstd'] };

describe.each(images)('%s', (image) => {
  it.each(compressions.flatMap((ext) => (['file', 'pipe'] as const).map((feed) => [ext, feed] as const)))(
    'converts%s in %s mode like qemu-img',
    async (ext, feed) => {
      const out = path.join(dir, `${image}${ext}.${feed}.img`);
      const result = await convertWith(feed, fx.file(image + ext), { kind: 'file', path: out });
      expect(await sha256File(out)).toBe(fx.reference[image]);
      expect(result.format).toBe(formatOf(image));
      expect(result.compressions).toEqual(wrapperOf[ext]);
      expect(result.spillBytes).toBe(0);
      const { size } = await stat(out);
      expect(result.virtualSize).toBe(size);
      const sourceSize = (await stat(fx.file(image + ext))).size;
      if (feed === 'pipe') expect(result.sourceBytes).toBe(sourceSize);
      else expect(result.sourceBytes).toBeLessThanOrEqual(sourceSize);
      expect(await allocatedBytes(out)).toBeLessThan(size);
    },
  );
});

describe('odd chunk sizes in pipe mode', () => {
  // One-byte chunks only where the input is small: each chunk is a trip through every layer.
  const cases: Array<readonly [string, Feed, string]> = tinyImages.flatMap((image) => [
    [image, 'bytes-1', image],
    [image, 'bytes-7', image],
    [image, 'bytes-random', image],
    [`${image}.gz`, 'bytes-7', image],
    [`${image}.zst`, 'bytes-random', image],
  ] as const);
  cases.push(['tiny.qcow2.gz', 'bytes-1', 'tiny.qcow2']);
  it.each(cases)('%s fed as %s', async (file, feed, image) => {
    const out = path.join(dir, `${file}.${feed}.img`);
    await convertWith(feed, fx.file(file), { kind: 'file', path: out });
    expect(await sha256File(out)).toBe(fx.reference[image]);
  });

  it.each(images.map((image) => [image] as const))('%s.xz fed in random chunks', async (image) => {
    const out = path.join(dir, `${image}.xz.random.img`);
    await convertWith('bytes-random', fx.file(`${image}.xz`), { kind: 'file', path: out });
    expect(await sha256File(out)).toBe(fx.reference[image]);
  });
});

describe('raw details', () => {
  it('keeps a raw image whose size is not a multiple of 512 byte for byte', async () => {
    for (const feed of ['file', 'pipe'] as const) {
      const out = path.join(dir, `odd.${feed}.img`);
      const result = await convertWith(feed, fx.file('odd.raw'), { kind: 'file', path: out });
      expect(result.virtualSize).toBe(12_345);
      expect(await sha256File(out)).toBe(fx.reference['odd.raw']);
    }
  });

  it('grows the target to --size, 1 MiB aligned, and never shrinks it', async () => {
    const grown = path.join(dir, 'grown.img');
    await convertWith('file', fx.file('small.qcow2'), { kind: 'file', path: grown }, { size: 10 * 2 ** 20 + 4096 });
    expect((await stat(grown)).size).toBe(10 * 2 ** 20);
    const kept = path.join(dir, 'kept.img');
    await convertWith('pipe', fx.file('small.raw.gz'), { kind: 'file', path: kept }, { size: 2 ** 20 });
    expect((await stat(kept)).size).toBe((await stat(fx.file('small.raw'))).size);
  });

  it('reports progress: stages, source bytes against the total, bytes written', async () => {
    const events: ProgressEvent[] = [];
    const file = fx.file('small-zlib.qcow2.gz');
    await convertWith('pipe', file, { kind: 'file', path: path.join(dir, 'progress.img') }, { onProgress: (e) => events.push(e) });
    const last = events.at(-1)!;
    expect(events.map((e) => e.stage)).toEqual(expect.arrayContaining(['convert', 'verify', 'finish', 'done']));
    expect(last.stage).toBe('done');
    expect(last.sourceBytes).toBe((await stat(file)).size);
    expect(last.sourceTotal).toBe(last.sourceBytes);
    expect(last.writtenBytes).toBeGreaterThan(0);
  });

  it('allocates the whole file with preallocation', async () => {
    const out = path.join(dir, 'prealloc.img');
    const result = await convertWith('file', fx.file('small-zlib.qcow2'), { kind: 'file', path: out }, { preallocation: true });
    expect(result.preallocationApplied).toBe(true);
    expect(await sha256File(out)).toBe(fx.reference['small-zlib.qcow2']);
    const { size } = await stat(out);
    expect(await allocatedBytes(out)).toBeGreaterThanOrEqual(size);
  });
});
