/**
 * Mutation fuzz over the qcow2 parser and both readers. Real small images get bytes and integers
 * flipped in the header, L1, L2 tables and compressed data, or get truncated. Whatever happens,
 * a reader either converts or throws a CdiError; it never throws anything else, never hangs and
 * never emits past the virtual size. QCOW2_FUZZ_CASES sets the case count (default 20000),
 * QCOW2_FUZZ_SEED the seed; a failure prints the seed and case to replay.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isCdiError } from '../../src/api/errors.ts';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { built, fixtures } from './fixtures.ts';
import { bufferInput, chunked, drain, prng } from './harness.ts';

const CASES = Number(process.env.QCOW2_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.QCOW2_FUZZ_SEED ?? 20261130);
const CASE_TIMEOUT_MS = 10_000;
const BASES = ['tiny-v2', 'tiny-zstd-512', 'small-zlib-4k', 'small-zstd-4k', 'small-extl2-16k', 'odd-size-inplace', 'resized-l1-at-end', 'small-64k'];

interface Base {
  name: string;
  bytes: Buffer;
  cluster: number;
  /** File ranges worth mutating: header, L1, L2 tables, compressed data. */
  regions: [number, number][];
}

let work: string;
const bases: Base[] = [];

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
    bases.push({ name, bytes, cluster, regions });
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const INTERESTING = [0n, 1n, 0x1ffn, 0x200n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 40n, 1n << 53n, 1n << 56n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n];

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
      const aligned = at - (at % 8);
      if (aligned + 8 > bytes.byteLength) continue;
      const v = op < 8 ? INTERESTING[pick(INTERESTING.length)]! : bytes.readBigUInt64BE(aligned) ^ (1n << BigInt(pick(64)));
      bytes.writeBigUInt64BE(v, aligned);
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

it(`survives ${CASES} mutated images with only coded errors`, { timeout: 600_000 }, async () => {
  const rnd = prng(SEED);
  const outcomes = { converted: 0, refused: 0 };
  for (let n = 0; n < CASES; n++) {
    const base = bases[n % bases.length]!;
    const bytes = mutate(base, rnd);
    const chunk = 1 + Math.floor(rnd() * 70_000);
    const label = `case ${n} (seed ${SEED}, base ${base.name})`;
    try {
      const random = await bounded(label, attempt(async () => drain(await openQcow2Random(bufferInput(bytes), {}))));
      const stream = await bounded(label, attempt(async () => drain(await openQcow2Stream(chunked(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 }))));
      for (const ok of [random, stream]) outcomes[ok ? 'converted' : 'refused']++;
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).stack}`, { cause: err });
    }
  }
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
