/**
 * Every cluster size qcow2 allows (512 B..2 MiB), plain, zlib- and zstd-compressed, with and
 * without extended L2 entries, read in one pass from pooled chunks of odd sizes (the way
 * `cdi convert -` reads a pipe) and through the CLI from a real pipe: byte-identical to
 * `qemu-img convert -O raw`. Images as qemu-img writes them never spill.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { sha256File } from '../support/qemu.ts';
import { built, fromRaw, type Fixture } from './fixtures.ts';
import { convertToFile, fileInput, pooledChunks } from './harness.ts';

const KiB = 1024;
const MiB = 1024 * 1024;

interface Variant {
  readonly name: string;
  readonly opts: (clusterSize: number) => string[];
  /** qemu allows extended L2 entries only from 16 KiB clusters up. */
  readonly minClusterBits: number;
}

const variants: readonly Variant[] = [
  { name: 'plain', opts: (cs) => ['-o', `cluster_size=${cs}`], minClusterBits: 9 },
  { name: 'zlib', opts: (cs) => ['-c', '-o', `cluster_size=${cs}`], minClusterBits: 9 },
  { name: 'zstd', opts: (cs) => ['-c', '-o', `cluster_size=${cs},compression_type=zstd`], minClusterBits: 9 },
  { name: 'extl2', opts: (cs) => ['-o', `cluster_size=${cs},extended_l2=on`], minClusterBits: 14 },
  { name: 'extl2-zlib', opts: (cs) => ['-c', '-o', `cluster_size=${cs},extended_l2=on`], minClusterBits: 14 },
];

const matrix: Fixture[] = [];
for (let bits = 9; bits <= 21; bits++) {
  for (const v of variants) {
    if (bits < v.minClusterBits) continue;
    matrix.push({
      name: `cs${bits}-${v.name}`,
      convertLayout: true,
      // an odd virtual size and 96 KiB pieces that straddle clusters of every size
      build: (f, w) => fromRaw(f, w, 5 * MiB + 512, 96 * KiB, 100 + bits, v.opts(2 ** bits)),
    });
  }
}

/** Odd chunk sizes: below a sector, a prime around a page, and just over a 64 KiB read. */
const chunkSizes = [509, 4093, 65_537];

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'qcow2-clusters-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(matrix.map((f) => [f.name, f] as const))('qcow2 %s', (name, fixture) => {
  it.each(chunkSizes)('one pass over pooled %i-byte chunks matches qemu-img without spilling', async (size) => {
    const img = await built(fixture);
    const reader = await openQcow2Stream(pooledChunks(await readFile(img.file), size), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-${size}.raw`))).toBe(img.reference);
    expect(reader.spillBytes()).toBe(0);
  });

  it('random access matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openQcow2Random(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });
});

describe('cdi convert - with 2 MiB clusters from a pipe', () => {
  const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
  it.each(['cs21-plain', 'cs21-extl2', 'cs21-zlib'])('%s converts like qemu-img', async (name) => {
    const img = await built(matrix.find((f) => f.name === name)!);
    const out = path.join(work, `${name}-cli.img`);
    const child = spawn(cdi, ['convert', '-', out], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    createReadStream(img.file).pipe(child.stdin);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(await sha256File(out)).toBe(img.reference);
  });
});
