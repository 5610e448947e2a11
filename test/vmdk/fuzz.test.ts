/**
 * Mutation fuzz over the VMDK parser and both readers, as test/qcow2/fuzz.test.ts does for
 * qcow2. Real small images (qemu-img's monolithicSparse and streamOptimized, an ESXi-style
 * stream with tables after the grains, a sparse image with tables last, a descriptor with its
 * flat extent in the same file) get bytes and integers flipped in the header, descriptor, grain
 * directory, grain tables, markers and compressed data, or get truncated. Whatever happens, a
 * reader either converts or throws a CdiError; it never throws anything else, never hangs and
 * never emits past the virtual size. VMDK_FUZZ_CASES sets the case count (default 20000),
 * VMDK_FUZZ_SEED the seed; a failure prints the seed and case to replay.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openVmdkRandom, openVmdkStream } from '../../src/format/vmdk/index.ts';
import { mutationFuzz, views, type FuzzBase } from '../support/mutation-fuzz.ts';
import { bufferInput, drain } from '../qcow2/harness.ts';
import { builtVmdk, vmdkFixture } from './fixtures.ts';

const CASES = Number(process.env.VMDK_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VMDK_FUZZ_SEED ?? 20261203);
const BASES = ['sparse-tiny', 'stream-tiny', 'esxi-stream-4k-grains', 'sparse-zeroed-tiny', 'sparse-tables-last-tiny'];

let work: string;
const bases: FuzzBase[] = [];

const sectorField = (b: Buffer, at: number): number => Number(b.readBigUInt64LE(at) & 0xffffffffn) * 512;

function regionsOf(bytes: Buffer): [number, number][] {
  const regions: [number, number][] = [[0, 512]];
  const descriptor = sectorField(bytes, 28);
  if (descriptor > 0) regions.push([descriptor, descriptor + 512]);
  const gdRaw = bytes.readBigUInt64LE(56);
  // an ESXi-style stream locates the directory in the footer (the header copy 1024 bytes from the end)
  const gd = gdRaw === 0xffffffffffffffffn ? sectorField(bytes, bytes.byteLength - 1024 + 56) : sectorField(bytes, 56);
  if (gdRaw === 0xffffffffffffffffn) regions.push([bytes.byteLength - 1536, bytes.byteLength]);
  regions.push([gd, gd + 64]);
  for (let at = gd; at < gd + 64 && at + 4 <= bytes.byteLength; at += 4) {
    const gt = bytes.readUInt32LE(at) * 512;
    if (gt === 0 || gt >= bytes.byteLength) continue;
    regions.push([gt, Math.min(bytes.byteLength, gt + 2048)]);
    // the first grains (or markers) the table maps
    for (let e = gt; e < gt + 256 && e + 4 <= bytes.byteLength; e += 4) {
      const host = bytes.readUInt32LE(e) * 512;
      if (host > 512 && host < bytes.byteLength) regions.push([host, Math.min(bytes.byteLength, host + 64)]);
    }
  }
  return regions;
}

/** A descriptor whose flat extent follows it in the same file. */
function flatBase(): FuzzBase {
  const desc = Buffer.alloc(1024);
  desc.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 64 FLAT "self.vmdk" 2\n', 'latin1');
  const data = Buffer.alloc(32 * 1024);
  for (let i = 0; i < data.byteLength; i++) data[i] = (i * 13) % 253;
  return { name: 'flat-in-stream', bytes: Buffer.concat([desc, data]), regions: [[0, 1024]] };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vmdk-fuzz-'));
  for (const name of BASES) {
    const bytes = await readFile((await builtVmdk(vmdkFixture(name))).file);
    bases.push({ name, bytes, regions: regionsOf(bytes) });
  }
  bases.push(flatBase());
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it(`survives ${CASES} mutated images with only coded errors`, { timeout: 900_000 }, async () => {
  const outcomes = await mutationFuzz({
    cases: CASES,
    seed: SEED,
    bases,
    littleEndian: true,
    readers: [
      async (bytes) => drain(await openVmdkRandom(bufferInput(bytes), {})),
      async (bytes, chunk) => drain(await openVmdkStream(views(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 })),
    ],
  });
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
