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
import { isCdiError } from '../../src/api/errors.ts';
import { openVmdkRandom, openVmdkStream } from '../../src/format/vmdk/index.ts';
import { bufferInput, chunked, drain, prng } from '../qcow2/harness.ts';
import { builtVmdk, vmdkFixture } from './fixtures.ts';

const CASES = Number(process.env.VMDK_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VMDK_FUZZ_SEED ?? 20261203);
const CASE_TIMEOUT_MS = 10_000;
const BASES = ['sparse-tiny', 'stream-tiny', 'esxi-stream-4k-grains', 'sparse-zeroed-tiny', 'sparse-tables-last-tiny'];

interface Base {
  name: string;
  bytes: Buffer;
  /** File ranges worth mutating: header, descriptor, tables, markers and the start of grains. */
  regions: [number, number][];
}

let work: string;
const bases: Base[] = [];

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
function flatBase(): Base {
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

const INTERESTING = [0n, 1n, 2n, 0x80n, 0x1ffn, 0x200n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 40n, 1n << 53n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n];

function mutate(base: Base, rnd: () => number): Buffer {
  const pick = (n: number): number => Math.floor(rnd() * n);
  let bytes = Buffer.from(base.bytes);
  const mutations = 1 + pick(3);
  for (let m = 0; m < mutations; m++) {
    const [start, end] = base.regions[pick(base.regions.length)]!;
    const at = start + pick(Math.max(1, end - start));
    const op = pick(10);
    if (op === 0) {
      bytes = bytes.subarray(0, pick(bytes.byteLength));
    } else if (op < 4) {
      if (at < bytes.byteLength) bytes[at] = pick(256);
    } else if (op < 6) {
      if (at < bytes.byteLength) bytes[at] = bytes[at]! ^ (1 << pick(8));
    } else {
      // fields are little-endian u32 (tables) and u64 (header, markers), 4-byte aligned
      const aligned = at - (at % 4);
      if (aligned + 8 > bytes.byteLength) continue;
      const v = op < 8 ? INTERESTING[pick(INTERESTING.length)]! : bytes.readBigUInt64LE(aligned) ^ (1n << BigInt(pick(64)));
      if (pick(2) === 0) bytes.writeUInt32LE(Number(v & 0xffffffffn), aligned);
      else bytes.writeBigUInt64LE(v, aligned);
    }
  }
  return bytes;
}

async function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one reader: true when it converted, false when it refused with a CdiError; anything else throws. */
async function attempt(run: () => Promise<number>): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (err) {
    if (!isCdiError(err)) throw err;
    return false;
  }
}

it(`survives ${CASES} mutated images with only coded errors`, { timeout: 900_000 }, async () => {
  const rnd = prng(SEED);
  const outcomes = { converted: 0, refused: 0 };
  for (let n = 0; n < CASES; n++) {
    const base = bases[n % bases.length]!;
    const bytes = mutate(base, rnd);
    const chunk = 1 + Math.floor(rnd() * 70_000);
    const label = `case ${n} (seed ${SEED}, base ${base.name})`;
    try {
      const random = await bounded(label, attempt(async () => drain(await openVmdkRandom(bufferInput(bytes), {}))));
      const stream = await bounded(label, attempt(async () => drain(await openVmdkStream(chunked(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 }))));
      for (const ok of [random, stream]) outcomes[ok ? 'converted' : 'refused']++;
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).stack}`, { cause: err });
    }
  }
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
