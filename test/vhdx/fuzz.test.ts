/**
 * Mutation fuzz over the VHDX parser and both readers (test/support/mutation-fuzz.ts). Bases are
 * small qemu-img images; mutations hit the file identifier, both headers, both region tables,
 * the metadata table and items, the BAT and the start of the payload. Header and region-table
 * mutations mostly meet the CRC-32C; the rest reach the metadata and BAT rules.
 * VHDX_FUZZ_CASES sets the case count (default 20000), VHDX_FUZZ_SEED the seed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openVhdxRandom, openVhdxStream } from '../../src/format/vhdx/index.ts';
import { mutationFuzz, views, type FuzzBase } from '../support/mutation-fuzz.ts';
import { bufferInput, drain } from '../qcow2/harness.ts';
import { BAT_GUID, built, fixHeaders, fixRegionTables, HEADERS, METADATA_GUID, REGION_TABLES, regionEntries, vhdxFixture } from './fixtures.ts';

const CASES = Number(process.env.VHDX_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VHDX_FUZZ_SEED ?? 20261203);
const BASES = ['small-1m', 'small-1m-fixed'];
const MiB = 1024 * 1024;

let work: string;
const bases: FuzzBase[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhdx-fuzz-'));
  for (const name of BASES) {
    const bytes = compact(await readFile((await built(vhdxFixture(name))).file));
    const regions: [number, number][] = [[0, 16]];
    for (const h of HEADERS) regions.push([h, h + 80]);
    for (const t of REGION_TABLES) regions.push([t, t + 16 + 2 * 32]);
    const entry = (guid: string): number => {
      const e = regionEntries(bytes, REGION_TABLES[0]!).find((x) => x.guid === guid)!;
      return Number(bytes.readBigUInt64LE(e.at + 16));
    };
    const meta = entry(METADATA_GUID);
    const bat = entry(BAT_GUID);
    regions.push([meta, meta + 32 + 6 * 32], [meta + 64 * 1024, meta + 64 * 1024 + 64], [bat, bat + 64]);
    const first = Number(bytes.readBigUInt64LE(bat) >> 20n) * 1024 * 1024;
    if (first > 0 && first < bytes.byteLength) regions.push([first, first + 64]);
    bases.push({ name, bytes, regions });
  }
});

/**
 * The same disk in the fewest MiB VHDX allows (qemu-img's are 11 MiB, mostly log and padding):
 * header section, BAT, metadata, then the present 1 MiB blocks, and no log. Each case copies the
 * image into the stream reader, so this is most of the fuzz's speed.
 */
function compact(bytes: Buffer): Buffer {
  const region = (guid: string): number => {
    const e = regionEntries(bytes, REGION_TABLES[0]!).find((x) => x.guid === guid)!;
    return Number(bytes.readBigUInt64LE(e.at + 16));
  };
  const bat = region(BAT_GUID);
  const meta = region(METADATA_GUID);
  const blocks: number[] = [];
  for (let at = bat; at < bat + MiB; at += 8) {
    if ((bytes.readUInt32LE(at) & 7) === 6) blocks.push(at);
  }
  const out = Buffer.alloc((3 + blocks.length) * MiB);
  bytes.copy(out, 0, 0, MiB);
  bytes.copy(out, MiB, bat, bat + MiB);
  bytes.copy(out, 2 * MiB, meta, meta + MiB);
  blocks.forEach((at, k) => {
    const from = Number(bytes.readBigUInt64LE(at) >> 20n) * MiB;
    bytes.copy(out, (3 + k) * MiB, from, from + MiB);
    out.writeBigUInt64LE((BigInt(3 + k) << 20n) | 6n, MiB + (at - bat));
  });
  for (const t of REGION_TABLES) {
    for (const e of regionEntries(out, t)) {
      out.writeBigUInt64LE(BigInt(e.guid === BAT_GUID ? MiB : 2 * MiB), e.at + 16);
      out.writeUInt32LE(MiB, e.at + 24);
    }
  }
  for (const h of HEADERS) {
    out.writeUInt32LE(0, h + 68);
    out.writeBigUInt64LE(0n, h + 72);
  }
  fixRegionTables(out);
  fixHeaders(out);
  return out;
}

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it(`survives ${CASES} mutated VHDXs with only coded errors`, { timeout: 900_000 }, async () => {
  const outcomes = await mutationFuzz({
    cases: CASES,
    seed: SEED,
    bases,
    littleEndian: true,
    readers: [
      async (bytes) => drain(await openVhdxRandom(bufferInput(bytes), {})),
      async (bytes, chunk) => drain(await openVhdxStream(views(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 })),
    ],
  });
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
