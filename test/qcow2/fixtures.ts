/**
 * qcow2 test images, made by qemu-img/qemu-io at test time and cached under .cache/fixtures/qcow2.
 * Each fixture also caches the sha256 of `qemu-img convert -O raw` of it: the reference output.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir, qemuConvertToRaw, qemuImg, qemuIo, sha256File } from '../support/qemu.ts';
import { prng } from './harness.ts';

/** Bump when a recipe changes so stale cached images are rebuilt. */
const RECIPES = 'v2';
const KiB = 1024;
const MiB = 1024 * 1024;

export interface Fixture {
  readonly name: string;
  /** `qemu-img convert` output: the one-pass reader must not spill. */
  readonly convertLayout: boolean;
  /** Small enough to feed one byte at a time. */
  readonly tiny?: boolean;
  /** Data sits before the table that maps it: the one-pass reader must spill. */
  readonly spills?: boolean;
  build(file: string, work: string): Promise<void>;
}

/**
 * A raw guest image of `size` bytes in `block`-sized pieces cycling through random bytes,
 * compressible text, written zeros and holes, so conversions meet every cluster kind.
 */
export async function writeMixedRaw(file: string, size: number, block: number, seed: number): Promise<void> {
  const rnd = prng(seed);
  const fh = await open(file, 'w');
  try {
    const words = ['qcow2', 'cluster', 'kubevirt', 'import', 'sector', 'guest', 'host', 'table', '\n', ' ', 'data'];
    for (let at = 0, i = 0; at < size; at += block, i++) {
      const n = Math.min(block, size - at);
      const kind = Math.floor(rnd() * 4);
      const buf = Buffer.alloc(n);
      if (kind === 0) for (let k = 0; k < n; k++) buf[k] = Math.floor(rnd() * 256);
      else if (kind === 1) {
        let k = 0;
        while (k < n) k += buf.write(words[Math.floor(rnd() * words.length)]!, k, 'latin1');
      } else if (kind === 3) continue;
      await fh.write(buf, 0, n, at);
    }
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

const create = (file: string, size: number, opts: string): Promise<string> => qemuImg('create', '-q', '-f', 'qcow2', '-o', opts, file, String(size));

/** Writes in reverse guest order with patterns, leaving holes and zeroed clusters. */
async function scatteredWrites(file: string, size: number, step: number): Promise<void> {
  const cmds: string[] = [];
  for (let at = size - step, i = 0; at >= 0; at -= step, i++) {
    if (i % 3 === 0) cmds.push(`write -q -P ${(i * 37) % 251 + 1} ${at} ${Math.min(step, size - at)}`);
    else if (i % 3 === 1) cmds.push(`write -q -z ${at} ${Math.min(step, size - at)}`);
  }
  await qemuIo(file, 'qcow2', ...cmds);
}

export async function fromRaw(file: string, work: string, size: number, block: number, seed: number, opts: string[]): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, block, seed);
  await qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', ...opts, raw, file);
}

export const fixtures: readonly Fixture[] = [
  {
    name: 'v2-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 6 * MiB + 64 * KiB, 64 * KiB, 1, ['-o', 'compat=0.10,cluster_size=65536']),
  },
  {
    name: 'v3-512', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 1 * MiB, 4 * KiB, 2, ['-o', 'cluster_size=512']),
  },
  {
    name: 'v3-4k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 3 * MiB, 16 * KiB, 3, ['-o', 'cluster_size=4096']),
  },
  {
    name: 'v3-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 8 * MiB, 128 * KiB, 4, ['-o', 'cluster_size=65536']),
  },
  {
    name: 'v3-2m', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 12 * MiB, 1 * MiB, 5, ['-o', 'cluster_size=2097152']),
  },
  {
    name: 'zlib-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 8 * MiB, 64 * KiB, 6, ['-c', '-o', 'cluster_size=65536']),
  },
  {
    name: 'zlib-512', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 512 * KiB, 2 * KiB, 7, ['-c', '-o', 'cluster_size=512']),
  },
  {
    // 2 MiB per L2 table: the first compressed clusters of each region land before its L2 table
    name: 'zlib-4k-regions', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 10 * MiB, 32 * KiB, 19, ['-c', '-o', 'cluster_size=4096']),
  },
  {
    name: 'zstd-16k-regions', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 40 * MiB, 256 * KiB, 20, ['-c', '-o', 'cluster_size=16384,compression_type=zstd']),
  },
  {
    name: 'zlib-4k-v2', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 2 * MiB, 8 * KiB, 8, ['-c', '-o', 'compat=0.10,cluster_size=4096']),
  },
  {
    name: 'zstd-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 8 * MiB, 64 * KiB, 9, ['-c', '-o', 'cluster_size=65536,compression_type=zstd']),
  },
  {
    name: 'zstd-2m', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 10 * MiB, 1 * MiB, 10, ['-c', '-o', 'cluster_size=2097152,compression_type=zstd']),
  },
  {
    name: 'extl2-64k', convertLayout: false,
    async build(f) {
      await create(f, 4 * MiB, 'cluster_size=65536,extended_l2=on');
      await qemuIo(f, 'qcow2', 'write -q -P 0x41 0 2k', 'write -q -P 0x42 6k 6k', 'write -q -z 16k 4k', 'write -q -P 0x43 1M 64k',
        'write -q -z 1M 2k', 'write -q -P 0x44 3M 100k', 'write -q -z 2M 128k', 'write -q -P 0x45 4190208 4096');
    },
  },
  {
    name: 'extl2-convert', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 4 * MiB, 2 * KiB, 11, ['-o', 'cluster_size=65536,extended_l2=on']),
  },
  {
    name: 'zero-clusters', convertLayout: false,
    async build(f) {
      await create(f, 4 * MiB, 'cluster_size=65536');
      await qemuIo(f, 'qcow2', 'write -q -P 0x11 0 1M', 'write -q -z 128k 256k', 'write -q -z 2M 1M', 'write -q -P 0x22 3M 64k', 'write -q -z -u 3M 64k');
    },
  },
  {
    name: 'snapshots', convertLayout: false, spills: true,
    async build(f) {
      await create(f, 4 * MiB, 'cluster_size=4096');
      await qemuIo(f, 'qcow2', 'write -q -P 0x01 0 2M');
      await qemuImg('snapshot', '-c', 's1', f);
      await qemuIo(f, 'qcow2', 'write -q -P 0x02 64k 128k', 'write -q -P 0x03 3M 512k');
      await qemuImg('snapshot', '-c', 's2', f);
      await qemuIo(f, 'qcow2', 'write -q -z 0 32k', 'write -q -P 0x04 1M 8k');
    },
  },
  {
    name: 'snapshot-deleted', convertLayout: false, spills: true,
    async build(f) {
      // COW moves the L2 tables to the end; deleting the snapshot frees the old clusters, which
      // the next writes reuse: their data now sits before the L2 table that maps it.
      await create(f, 2 * MiB, 'cluster_size=4096');
      await qemuIo(f, 'qcow2', 'write -q -P 0x31 0 1M', 'write -q -P 0x32 1M 1M');
      await qemuImg('snapshot', '-c', 's1', f);
      await qemuIo(f, 'qcow2', 'write -q -P 0x33 0 4k', 'write -q -P 0x34 1M 4k');
      await qemuImg('snapshot', '-d', 's1', f);
      await qemuIo(f, 'qcow2', 'write -q -P 0x35 256k 512k', 'write -q -P 0x36 1536k 256k');
    },
  },
  {
    name: 'resized-l1-at-end', convertLayout: false, spills: true,
    async build(f) {
      // 512-byte clusters: one L1 cluster covers 2 MiB, so growing to 8 MiB moves the L1 to the end
      await create(f, 1 * MiB, 'cluster_size=512');
      await scatteredWrites(f, 1 * MiB, 24 * KiB);
      await qemuImg('resize', '-q', f, String(8 * MiB));
      await qemuIo(f, 'qcow2', 'write -q -P 0x77 7M 4k', 'write -q -P 0x78 100k 2k');
    },
  },
  {
    name: 'out-of-order-4k', convertLayout: false, spills: true,
    async build(f) {
      await create(f, 6 * MiB, 'cluster_size=4096');
      await scatteredWrites(f, 6 * MiB, 192 * KiB);
      await qemuImg('resize', '-q', f, String(8 * MiB));
      await qemuIo(f, 'qcow2', 'write -q -P 0x55 7M 8k', 'write -q -P 0x56 40k 4k');
    },
  },
  {
    name: 'bitmaps', convertLayout: false,
    async build(f) {
      await create(f, 4 * MiB, 'cluster_size=65536');
      await qemuImg('bitmap', '--add', f, 'b0');
      await qemuIo(f, 'qcow2', 'write -q -P 0x05 0 1M', 'write -q -P 0x06 2M 64k');
      await qemuImg('bitmap', '--add', '-g', '65536', f, 'b1');
      await qemuIo(f, 'qcow2', 'write -q -P 0x07 3M 128k');
    },
  },
  {
    name: 'lazy-refcounts-dirty', convertLayout: false,
    async build(f) {
      await create(f, 2 * MiB, 'cluster_size=65536,lazy_refcounts=on');
      await qemuIo(f, 'qcow2', 'write -q -P 0x66 0 256k', 'write -q -P 0x67 1M 64k');
      await setDirtyBit(f);
    },
  },
  {
    name: 'odd-size-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 3 * MiB + 3 * 512, 64 * KiB, 12, ['-o', 'cluster_size=65536']),
  },
  {
    name: 'odd-size-2m-zlib', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 5 * MiB + 512, 256 * KiB, 13, ['-c', '-o', 'cluster_size=2097152']),
  },
  {
    name: 'odd-size-inplace', convertLayout: false, tiny: true,
    async build(f) {
      await create(f, 100 * KiB + 512, 'cluster_size=4096');
      await qemuIo(f, 'qcow2', 'write -q -P 0x12 96k 4608', 'write -q -P 0x13 0 5k');
    },
  },
  {
    name: 'tiny-zstd-512', convertLayout: true, tiny: true,
    build: (f, w) => fromRaw(f, w, 96 * KiB, 1 * KiB, 14, ['-c', '-o', 'cluster_size=512,compression_type=zstd']),
  },
  {
    name: 'tiny-v2', convertLayout: true, tiny: true,
    build: (f, w) => fromRaw(f, w, 128 * KiB, 4 * KiB, 15, ['-o', 'compat=0.10,cluster_size=4096']),
  },
  {
    name: 'small-extl2-16k', convertLayout: false, tiny: true,
    async build(f) {
      await create(f, 512 * KiB, 'cluster_size=16384,extended_l2=on');
      await qemuIo(f, 'qcow2', 'write -q -P 0x61 300k 3k', 'write -q -P 0x62 0 20k', 'write -q -z 4k 1k', 'write -q -z 64k 16k',
        'write -q -P 0x63 130560 1536');
    },
  },
  {
    name: 'small-zlib-4k', convertLayout: true, tiny: true,
    build: (f, w) => fromRaw(f, w, 256 * KiB, 4 * KiB, 16, ['-c', '-o', 'cluster_size=4096']),
  },
  {
    name: 'small-zstd-4k', convertLayout: true, tiny: true,
    build: (f, w) => fromRaw(f, w, 256 * KiB, 4 * KiB, 17, ['-c', '-o', 'cluster_size=4096,compression_type=zstd']),
  },
  {
    name: 'small-64k', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 1 * MiB, 64 * KiB, 18, ['-o', 'cluster_size=65536']),
  },
  {
    name: 'empty', convertLayout: true, tiny: true,
    async build(f) {
      await create(f, 0, 'cluster_size=65536');
    },
  },
];

/** Sets incompatible bit 0 (dirty), as a crash with lazy refcounts leaves it. */
export async function setDirtyBit(file: string): Promise<void> {
  const bytes = await readFile(file);
  bytes[79] = bytes[79]! | 1;
  await writeFile(file, bytes);
}

export interface BuiltFixture {
  readonly fixture: Fixture;
  readonly file: string;
  readonly size: number;
  readonly reference: string;
}

/**
 * The cached image and its reference digest, built on first use (safe across parallel test files).
 * Other formats' fixtures (`format`, with their own recipe version) share the cache logic.
 */
export async function built(fixture: Fixture, format = 'qcow2', recipes = RECIPES): Promise<BuiltFixture> {
  const dir = await cacheDir(format);
  const file = path.join(dir, `${recipes}-${fixture.name}.${format}`);
  const digestFile = `${file}.sha256`;
  try {
    const reference = (await readFile(digestFile, 'utf8')).trim();
    return { fixture, file, size: (await stat(file)).size, reference };
  } catch {
    // not cached yet
  }
  const work = await cacheDir(format, `work-${randomUUID()}`);
  try {
    const tmp = path.join(work, `image.${format}`);
    await fixture.build(tmp, work);
    const raw = path.join(work, 'ref.raw');
    await qemuConvertToRaw(tmp, raw);
    const reference = await sha256File(raw);
    await rename(tmp, file);
    const digestTmp = path.join(work, 'digest');
    await writeFile(digestTmp, reference);
    await rename(digestTmp, digestFile);
    return { fixture, file, size: (await stat(file)).size, reference };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
