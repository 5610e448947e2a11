/**
 * Mutation fuzz over the qcow2 parser and both readers, on the shared driver
 * (test/support/mutation-fuzz.ts). Real small images get bytes and integers flipped in the
 * header, L1, L2 tables and compressed data, or get truncated. Whatever happens, a reader either
 * converts or throws a CdiError; it never throws anything else, never hangs and never emits past
 * the virtual size. QCOW2_FUZZ_CASES sets the case count (default 20000),
 * QCOW2_FUZZ_SEED the seed; a failure prints the seed and case to replay.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { mutationFuzz, views, type FuzzBase } from '../support/mutation-fuzz.ts';
import { built, fixtures } from './fixtures.ts';
import { bufferInput, drain } from './harness.ts';

const CASES = Number(process.env.QCOW2_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.QCOW2_FUZZ_SEED ?? 20261130);
const BASES = ['tiny-v2', 'tiny-zstd-512', 'small-zlib-4k', 'small-zstd-4k', 'small-extl2-16k', 'odd-size-inplace', 'resized-l1-at-end', 'small-64k'];

let work: string;
const bases: FuzzBase[] = [];

function u64(b: Buffer, at: number): number {
  return at + 8 <= b.byteLength ? Number(b.readBigUInt64BE(at) & 0x00ff_ffff_ffff_fe00n) : 0;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'qcow2-fuzz-'));
  for (const name of BASES) {
    const bytes = await readFile((await built(fixtures.find((f) => f.name === name)!)).file);
    const cluster = 2 ** bytes.readUInt32BE(20);
    const regions: [number, number][] = [[0, Math.min(cluster, 4096)]];
    const l1 = u64(bytes, 40);
    const l1Bytes = bytes.readUInt32BE(36) * 8;
    regions.push([l1, l1 + l1Bytes]);
    for (let at = l1; at < l1 + l1Bytes; at += 8) {
      const l2 = u64(bytes, at);
      if (l2 === 0 || l2 >= bytes.byteLength) continue;
      regions.push([l2, Math.min(bytes.byteLength, l2 + cluster)]);
      // the start of the first few data or compressed clusters the table maps
      for (let e = l2; e < l2 + Math.min(cluster, 64); e += 8) {
        const entry = bytes.readBigUInt64BE(e);
        const host = entry & (1n << 62n) ? Number(entry & ((1n << BigInt(70 - Math.log2(cluster))) - 1n)) : u64(bytes, e);
        if (host > 0 && host < bytes.byteLength) regions.push([host, Math.min(bytes.byteLength, host + 64)]);
      }
    }
    bases.push({ name, bytes, regions });
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
    littleEndian: false,
    readers: [
      async (bytes) => drain(await openQcow2Random(bufferInput(bytes), {})),
      async (bytes, chunk) => drain(await openQcow2Stream(views(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 })),
    ],
  });
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
