/**
 * Mutation fuzz over the VHD parser and both readers (test/support/mutation-fuzz.ts). Bases are
 * qemu-img images; mutations hit the footer copy, the dynamic header, the block table, the first
 * sector bitmaps and the trailing footer. VHD_FUZZ_CASES sets the case count (default 20000),
 * VHD_FUZZ_SEED the seed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openVhdRandom, openVhdStream } from '../../src/format/vhd/index.ts';
import { mutationFuzz, views, type FuzzBase } from '../support/mutation-fuzz.ts';
import { bufferInput, drain } from '../qcow2/harness.ts';
import { built, vhdFixture } from './fixtures.ts';

const CASES = Number(process.env.VHD_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VHD_FUZZ_SEED ?? 20261203);
const BASES = ['one-block', 'unwritten', 'empty', 'fixed-force-size'];

let work: string;
const bases: FuzzBase[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhd-fuzz-'));
  for (const name of BASES) {
    const bytes = await readFile((await built(vhdFixture(name))).file);
    const end = bytes.byteLength;
    const regions: [number, number][] = [[end - 512, end]];
    if (bytes.toString('latin1', 0, 8) === 'conectix') {
      const header = Number(bytes.readBigUInt64BE(16));
      const table = Number(bytes.readBigUInt64BE(header + 16));
      const entries = bytes.readUInt32BE(header + 28);
      regions.push([0, 512], [header, header + 1024], [table, table + entries * 4]);
      for (let i = 0; i < Math.min(entries, 4); i++) {
        const sector = bytes.readUInt32BE(table + i * 4);
        if (sector !== 0xffffffff && sector * 512 < end) regions.push([sector * 512, Math.min(end, sector * 512 + 520)]);
      }
    }
    bases.push({ name, bytes, regions });
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it(`survives ${CASES} mutated VHDs with only coded errors`, { timeout: 900_000 }, async () => {
  const outcomes = await mutationFuzz({
    cases: CASES,
    seed: SEED,
    bases,
    littleEndian: false,
    readers: [
      async (bytes) => drain(await openVhdRandom(bufferInput(bytes), {})),
      async (bytes, chunk) => drain(await openVhdStream(views(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 })),
    ],
  });
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
