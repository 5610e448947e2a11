/**
 * Every VDI fixture converted by both readers (random access from the file; one pass in one
 * piece, in 7-byte, random and pooled odd-sized chunks, and byte by byte for tiny images) must
 * match `qemu-img convert -O raw`; and through the engine from a file and from gzip, xz and zstd
 * wrappers in a pipe.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVdiRandom, openVdiStream } from '../../src/format/vdi/index.ts';
import { codeOf, convertWith, exists } from '../format/helpers.ts';
import { RecordingSink } from '../format/recording-sink.ts';
import { convertToFile, fileChunks, fileInput, pooledChunks, type Chunking } from '../qcow2/harness.ts';
import { sha256File } from '../support/qemu.ts';
import { built, fixtures } from './fixtures.ts';

const sh = promisify(execFile);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vdi-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(fixtures.map((f) => [f.name, f] as const))('vdi %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openVdiRandom(input, {});
      expect(reader.format).toBe('vdi');
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  const chunkings: Chunking[] = ['whole', 'random', ...(fixture.large ? [] : [7 as const]), ...(fixture.tiny ? [1 as const] : [])];
  it.each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await built(fixture);
    const reader = await openVdiStream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.convertLayout) expect(reader.spillBytes()).toBe(0);
  });

  it.each([509, 65_537])('one-pass reader over pooled %i-byte chunks matches qemu-img', async (size) => {
    const img = await built(fixture);
    const reader = await openVdiStream(pooledChunks(await readFile(img.file), size), { scratchDir: work, spillLimit: fixture.spills ? Infinity : 0 });
    expect(await convertToFile(reader, path.join(work, `${name}-pooled.raw`))).toBe(img.reference);
  });
});

describe('vdi through the engine', () => {
  const wrappers = [['', []], ['.gz', ['gzip', '-c']], ['.xz', ['xz', '-c', '-T1']], ['.zst', ['zstd', '-q', '-c']]] as const;
  it.each(fixtures.filter((f) => ['dynamic-convert', 'static-convert', 'map-after-data'].includes(f.name)).flatMap((f) => wrappers.map(([ext, cmd]) => [f.name, ext, cmd, f] as const)))(
    '%s%s converts like qemu-img from a file and from a pipe',
    async (name, ext, cmd, fixture) => {
      const img = await built(fixture);
      let file = img.file;
      if (cmd.length > 0) {
        file = path.join(work, `${name}.vdi${ext}`);
        await sh('sh', ['-c', `${cmd.join(' ')} < "$1" > "$2"`, 'sh', img.file, file]);
      }
      for (const feed of ['file', 'pipe'] as const) {
        const target = path.join(work, `${name}${ext}-${feed}.img`);
        const result = await convertWith(feed, file, { kind: 'file', path: target });
        expect(result.format).toBe('vdi');
        expect(result.compressions).toEqual(ext === '' ? [] : [{ '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' }[ext]]);
        expect(await sha256File(target)).toBe(img.reference);
        if (!fixture.spills) expect(result.spillBytes).toBe(0);
      }
    },
  );
});

describe('vdi checksums and capacity', () => {
  it('verifies a checksum over every byte of the file in file and pipe mode; a mismatch leaves no target', async () => {
    const img = await built(fixtures.find((f) => f.name === 'dynamic-reverse')!);
    const checksum = `sha256:${createHash('sha256').update(await readFile(img.file)).digest('hex')}`;
    for (const feed of ['file', 'pipe'] as const) {
      const result = await convertWith(feed, img.file, { kind: 'file', path: path.join(work, `sum-${feed}.img`) }, { checksum });
      expect(result.checksum).toBe(checksum);
      const target = path.join(work, `sum-bad-${feed}.img`);
      expect(await codeOf(convertWith(feed, img.file, { kind: 'file', path: target }, { checksum: `sha256:${'0'.repeat(64)}` }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
      expect(await exists(target)).toBe(false);
    }
  });

  it('refuses an image larger than the capacity before writing anything', async () => {
    const img = await built(fixtures.find((f) => f.name === 'dynamic-reverse')!);
    for (const feed of ['file', 'pipe'] as const) {
      const sink = new RecordingSink(4 * 1024 * 1024);
      expect(await codeOf(convertWith(feed, img.file, { kind: 'sink', sink }))).toBe('CDI_ERR_TOO_LARGE');
      expect(sink.maxEnd).toBe(0);
    }
  });
});
