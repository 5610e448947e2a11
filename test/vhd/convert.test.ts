/**
 * Every VHD fixture converted by the random-access reader (from the file) and, for dynamic
 * disks, by the one-pass reader (in one piece, in 509-byte and random chunks, byte by byte and in
 * 7-byte chunks for tiny ones) must match `qemu-img convert -f vpc -O raw`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVhdRandom, openVhdStream } from '../../src/format/vhd/index.ts';
import { convertToFile, fileChunks, fileInput, type Chunking } from '../qcow2/harness.ts';
import { built, vhdFixtures } from './fixtures.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhd-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(vhdFixtures.map((f) => [f.name, f] as const))('vhd %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openVhdRandom(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  const chunkings: Chunking[] = fixture.fixed ? [] : ['whole', 509, 'random', ...(fixture.tiny ? [1 as const, 7 as const] : [])];
  it.skipIf(chunkings.length === 0).each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await built(fixture);
    const reader = await openVhdStream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.convertLayout) expect(reader.spillBytes()).toBe(0);
    if (fixture.spills) expect(reader.spillBytes()).toBeGreaterThan(0);
  });
});
