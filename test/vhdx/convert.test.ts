/**
 * Every VHDX fixture converted by both readers (random access from the file; one pass in one
 * piece, in 4099-byte and in random chunks) must match `qemu-img convert -f vhdx -O raw`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVhdxRandom, openVhdxStream } from '../../src/format/vhdx/index.ts';
import { convertToFile, fileChunks, fileInput, type Chunking } from '../qcow2/harness.ts';
import { built, vhdxFixtures } from './fixtures.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhdx-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(vhdxFixtures.map((f) => [f.name, f] as const))('vhdx %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openVhdxRandom(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  // a VHDX is at least 4 MiB of headers, log and regions: odd chunks of 4099 bytes cross every structure's edges
  const chunkings: Chunking[] = ['whole', 4099, 'random'];
  it.each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await built(fixture);
    const reader = await openVhdxStream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.convertLayout) expect(reader.spillBytes()).toBe(0);
    if (fixture.spills) expect(reader.spillBytes()).toBeGreaterThan(0);
  });
});
