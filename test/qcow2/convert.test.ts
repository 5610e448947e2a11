/**
 * Every fixture converted by both readers (random access from the file; one pass in one piece,
 * in 7-byte and random chunks, and byte by byte for tiny images) must match `qemu-img convert -O raw`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RandomAccessInput } from '../../src/format/contracts.ts';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { built, fixtures } from './fixtures.ts';
import { convertToFile, fileChunks, fileInput, type Chunking } from './harness.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'qcow2-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(fixtures.map((f) => [f.name, f] as const))('qcow2 %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openQcow2Random(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  const chunkings: Chunking[] = ['whole', 7, 'random', ...(fixture.tiny ? [1 as const] : [])];
  it.each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await built(fixture);
    const reader = await openQcow2Stream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.convertLayout) expect(reader.spillBytes()).toBe(0);
    if (fixture.spills) expect(reader.spillBytes()).toBeGreaterThan(0);
  });
});

describe('qcow2 random-access reader and caller buffers', () => {
  it('never detaches or changes buffers the input hands out (they may be views of a shared cache)', async () => {
    const img = await built(fixtures.find((f) => f.name === 'zstd-16k-regions')!);
    const whole = new Uint8Array(await readFile(img.file));
    const copy = new Uint8Array(whole);
    const views: RandomAccessInput = {
      size: whole.byteLength,
      read: async (offset, length) => whole.subarray(offset, offset + length),
      stream: () => {
        throw new Error('not used');
      },
    };
    const reader = await openQcow2Random(views, {});
    expect(await convertToFile(reader, path.join(work, 'views.raw'))).toBe(img.reference);
    expect(whole.buffer.byteLength).toBe(copy.byteLength);
    expect(Buffer.compare(whole, copy)).toBe(0);
  });
});
