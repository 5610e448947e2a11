/**
 * Mutation fuzz over the VDI parser and both readers, on the shared driver
 * (test/support/mutation-fuzz.ts). Small real images get bytes and integers flipped in the
 * header, the block map and the start of data blocks, or get truncated. VDI_FUZZ_CASES sets the
 * case count (default 20000), VDI_FUZZ_SEED the seed; a failure prints the seed and case to replay.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openVdiRandom, openVdiStream } from '../../src/format/vdi/index.ts';
import { mutationFuzz, views, type FuzzBase } from '../support/mutation-fuzz.ts';
import { bufferInput, drain } from '../qcow2/harness.ts';
import { built, dataOffset, fixtures, mapOffset } from './fixtures.ts';

const CASES = Number(process.env.VDI_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VDI_FUZZ_SEED ?? 20261203);

let work: string;
const bases: FuzzBase[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vdi-fuzz-'));
  for (const fixture of fixtures.filter((f) => f.fuzzBase)) {
    const bytes = await readFile((await built(fixture)).file);
    const map = mapOffset(bytes);
    const regions: [number, number][] = [[0, 512], [map, map + Math.max(4, bytes.readUInt32LE(0x180) * 4)]];
    for (let at = dataOffset(bytes); at < bytes.byteLength; at += 1024 * 1024) regions.push([at, Math.min(at + 64, bytes.byteLength)]);
    bases.push({ name: fixture.name, bytes, regions });
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it(`survives ${CASES} mutated images with only coded errors`, { timeout: 600_000 }, async () => {
  const outcomes = await mutationFuzz({
    cases: CASES,
    seed: SEED,
    bases,
    littleEndian: true,
    readers: [
      async (bytes) => drain(await openVdiRandom(bufferInput(bytes), {})),
      async (bytes, chunk) => drain(await openVdiStream(views(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 })),
    ],
  });
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
