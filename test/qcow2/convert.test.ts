/**
 * Every fixture converted by both readers (random access from the file; one pass in one piece,
 * in 7-byte and random chunks, and byte by byte for tiny images) must match `qemu-img convert -O raw`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
