/**
 * Mutation fuzz driver for the format readers (qcow2, VDI, VMDK, VHD and VHDX share it):
 * real small images get bytes flipped, set, or integers replaced in the regions that
 * matter (headers, tables, bitmaps), or get truncated. Whatever happens, every reader either
 * converts or throws a CdiError: never anything else, never a hang, never an extent past the
 * virtual size (the harness's drain checks that). A failure names the seed and case to replay.
 */
import { isCdiError } from '../../src/api/errors.ts';
import { prng } from '../qcow2/harness.ts';

export interface FuzzBase {
  readonly name: string;
  readonly bytes: Buffer;
  /** File ranges worth mutating. */
  readonly regions: ReadonlyArray<readonly [number, number]>;
}

/** Runs one reader over the mutated bytes (fed in `chunk`-byte pieces when it reads a stream). */
export type FuzzReader = (bytes: Buffer, chunk: number) => Promise<unknown>;

export interface FuzzOptions {
  readonly cases: number;
  readonly seed: number;
  readonly bases: readonly FuzzBase[];
  readonly readers: readonly FuzzReader[];
  readonly littleEndian: boolean;
  readonly caseTimeoutMs?: number;
}

const INTERESTING_64 = [0n, 1n, 0x1ffn, 0x200n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 40n, 1n << 53n, 1n << 56n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n];
const INTERESTING_32 = [0, 1, 2, 3, 6, 7, 0x1ff, 0x200, 0x100000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * Mutates `work` (a copy of the base) in place and returns the mutated image (a view, shorter
 * when truncated) and an undo that restores the copy: no per-case copy of a multi-MiB base.
 */
function mutate(base: FuzzBase, work: Buffer, rnd: () => number, littleEndian: boolean): { bytes: Buffer; undo: () => void } {
  const pick = (n: number): number => Math.floor(rnd() * n);
  const saved: Array<[number, Buffer]> = [];
  const save = (at: number, length: number): void => void saved.push([at, Buffer.from(work.subarray(at, at + length))]);
  let length = work.byteLength;
  const mutations = 1 + pick(3);
  for (let m = 0; m < mutations; m++) {
    const [start, end] = base.regions[pick(base.regions.length)]!;
    const at = start + pick(Math.max(1, end - start));
    const op = pick(12);
    if (op === 0) {
      length = pick(length);
    } else if (op < 6) {
      if (at >= length) continue;
      save(at, 1);
      work[at] = op < 4 ? pick(256) : work[at]! ^ (1 << pick(8));
    } else if (op < 9) {
      const aligned = at - (at % 4);
      if (aligned + 4 > length) continue;
      save(aligned, 4);
      const v = op < 8 ? INTERESTING_32[pick(INTERESTING_32.length)]! : (work.readUInt32LE(aligned) ^ (1 << pick(32))) >>> 0;
      if (littleEndian) work.writeUInt32LE(v, aligned);
      else work.writeUInt32BE(v, aligned);
    } else {
      const aligned = at - (at % 8);
      if (aligned + 8 > length) continue;
      save(aligned, 8);
      const old = littleEndian ? work.readBigUInt64LE(aligned) : work.readBigUInt64BE(aligned);
      const v = op < 11 ? INTERESTING_64[pick(INTERESTING_64.length)]! : old ^ (1n << BigInt(pick(64)));
      if (littleEndian) work.writeBigUInt64LE(v, aligned);
      else work.writeBigUInt64BE(v, aligned);
    }
  }
  return {
    bytes: work.subarray(0, length),
    undo: () => {
      for (let i = saved.length - 1; i >= 0; i--) saved[i]![1].copy(work, saved[i]![0]);
    },
  };
}

async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the cases; returns how many reader runs converted and how many were refused. */
export async function mutationFuzz(opts: FuzzOptions): Promise<{ converted: number; refused: number }> {
  const rnd = prng(opts.seed);
  const outcomes = { converted: 0, refused: 0 };
  const works = opts.bases.map((b) => Buffer.from(b.bytes));
  for (let n = 0; n < opts.cases; n++) {
    const base = opts.bases[n % opts.bases.length]!;
    const { bytes, undo } = mutate(base, works[n % opts.bases.length]!, rnd, opts.littleEndian);
    const chunk = 1 + Math.floor(rnd() * 70_000);
    const label = `case ${n} (seed ${opts.seed}, base ${base.name})`;
    for (const reader of opts.readers) {
      try {
        await bounded(label, opts.caseTimeoutMs ?? 10_000, reader(bytes, chunk));
        outcomes.converted++;
      } catch (err) {
        if (!isCdiError(err)) throw new Error(`${label}: ${(err as Error).stack}`, { cause: err });
        outcomes.refused++;
      }
    }
    undo();
  }
  return outcomes;
}

/**
 * The image as a stream of `chunk`-byte views, not copies: the fuzz is about parsing, and the
 * convert tests' copying chunker already catches readers that keep views of old chunks.
 */
export async function* views(bytes: Uint8Array, chunk: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += chunk) yield bytes.subarray(at, at + chunk);
}
