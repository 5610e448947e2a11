/**
 * Mutation fuzz over the VDI parser and both readers. Small real images get bytes and integers
 * flipped in the header, the block map and the start of data blocks, or get truncated. Whatever
 * happens, a reader either converts or throws a CdiError; it never throws anything else, never
 * hangs and never emits past the virtual size. VDI_FUZZ_CASES sets the case count (default
 * 20000), VDI_FUZZ_SEED the seed; a failure prints the seed and case to replay.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isCdiError } from '../../src/api/errors.ts';
import { openVdiRandom, openVdiStream } from '../../src/format/vdi/index.ts';
import { bufferInput, chunked, drain, prng } from '../qcow2/harness.ts';
import { built, dataOffset, fixtures, mapOffset } from './fixtures.ts';

const CASES = Number(process.env.VDI_FUZZ_CASES ?? 20_000);
const SEED = Number(process.env.VDI_FUZZ_SEED ?? 20261203);
const CASE_TIMEOUT_MS = 10_000;

interface Base {
  name: string;
  bytes: Buffer;
  /** File ranges worth mutating: header, block map, the start of each data block. */
  regions: [number, number][];
}

let work: string;
const bases: Base[] = [];

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

const INTERESTING = [0, 1, 2, 3, 0x1ff, 0x200, 0x400, 0x100000, 0x3fffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

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
      const aligned = at - (at % 4);
      if (aligned + 4 > bytes.byteLength) continue;
      const v = op < 8 ? INTERESTING[pick(INTERESTING.length)]! : (bytes.readUInt32LE(aligned) ^ (1 << pick(32))) >>> 0;
      bytes.writeUInt32LE(v, aligned);
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
      const random = await bounded(label, attempt(async () => drain(await openVdiRandom(bufferInput(bytes), {}))));
      const stream = await bounded(label, attempt(async () => drain(await openVdiStream(chunked(bytes, chunk), { scratchDir: work, spillLimit: 16 << 20 }))));
      for (const ok of [random, stream]) outcomes[ok ? 'converted' : 'refused']++;
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).stack}`, { cause: err });
    }
  }
  // both paths must be exercised, or the mutations are too weak (or too strong) to mean anything
  expect(outcomes.converted).toBeGreaterThan(CASES / 10);
  expect(outcomes.refused).toBeGreaterThan(CASES / 10);
});
