/**
 * VMDK test images, made by qemu-img/qemu-io (or, for layouts qemu-img does not write, by
 * writer.ts) at test time and cached under .cache/fixtures/vmdk, each with the sha256 of
 * `qemu-img convert -O raw` of it: the reference output.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeMixedRaw } from '../qcow2/fixtures.ts';
import { cacheDir, qemuConvertToRaw, qemuImg, qemuIo, sha256File } from '../support/qemu.ts';
import { writeVmdk, type WriterOptions } from './writer.ts';

/** Bump when a recipe changes so stale cached images are rebuilt. */
const RECIPES = 'v2';
const KiB = 1024;
const MiB = 1024 * 1024;

export interface VmdkFixture {
  readonly name: string;
  /** Laid out as qemu-img or VMware write it: the one-pass reader must not spill. */
  readonly noSpill: boolean;
  /** Grains pass before the tables that map them: the one-pass reader must spill. */
  readonly spills?: boolean;
  /** Small enough to feed one byte at a time. */
  readonly tiny?: boolean;
  /** Too big to feed 7 bytes at a time. */
  readonly big?: boolean;
  build(file: string, work: string): Promise<void>;
}

async function fromRaw(file: string, work: string, size: number, block: number, seed: number, options: string): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, block, seed);
  await qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', options, raw, file);
}

async function written(file: string, work: string, size: number, block: number, seed: number, opts: WriterOptions): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, block, seed);
  await writeFile(file, writeVmdk(await readFile(raw), opts));
}

/** Guest writes in reverse order, with zeros written over some: grains are allocated out of guest order. */
async function inPlace(file: string, size: number, options: string, step: number): Promise<void> {
  await qemuImg('create', '-q', '-f', 'vmdk', '-o', options, file, String(size));
  const cmds: string[] = [];
  for (let at = size - step, i = 0; at >= 0; at -= step, i++) {
    const n = Math.min(step, size - at);
    if (i % 3 === 0) cmds.push(`write -q -P ${(i * 37) % 251 + 1} ${at} ${n}`);
    else if (i % 3 === 1) cmds.push(`write -q -P 0x5a ${at} ${n}`, `write -q -z ${at} ${n}`);
  }
  await qemuIo(file, 'vmdk', ...cmds);
}

export const vmdkFixtures: readonly VmdkFixture[] = [
  { name: 'sparse-64k', noSpill: true, build: (f, w) => fromRaw(f, w, 6 * MiB, 64 * KiB, 31, 'subformat=monolithicSparse') },
  { name: 'sparse-odd-size', noSpill: true, build: (f, w) => fromRaw(f, w, 3 * MiB + 3 * 512, 32 * KiB, 32, 'subformat=monolithicSparse') },
  { name: 'sparse-zeroed-grain', noSpill: true, build: (f) => inPlace(f, 5 * MiB, 'subformat=monolithicSparse,zeroed_grain=on', 192 * KiB) },
  { name: 'sparse-in-place', noSpill: true, build: (f) => inPlace(f, 4 * MiB + 512, 'subformat=monolithicSparse', 96 * KiB) },
  { name: 'sparse-big', noSpill: true, big: true, build: (f, w) => fromRaw(f, w, 72 * MiB, 1 * MiB, 33, 'subformat=monolithicSparse') },
  { name: 'stream-optimized', noSpill: true, build: (f, w) => fromRaw(f, w, 8 * MiB, 64 * KiB, 34, 'subformat=streamOptimized') },
  { name: 'stream-odd-size', noSpill: true, build: (f, w) => fromRaw(f, w, 5 * MiB + 512, 48 * KiB, 35, 'subformat=streamOptimized') },
  { name: 'stream-big', noSpill: true, big: true, build: (f, w) => fromRaw(f, w, 40 * MiB, 256 * KiB, 36, 'subformat=streamOptimized') },
  { name: 'stream-tiny', noSpill: true, tiny: true, build: (f, w) => fromRaw(f, w, 200 * KiB, 4 * KiB, 37, 'subformat=streamOptimized') },
  { name: 'sparse-tiny', noSpill: true, tiny: true, build: (f, w) => fromRaw(f, w, 160 * KiB + 512, 8 * KiB, 38, 'subformat=monolithicSparse') },
  { name: 'esxi-stream', noSpill: true, big: true, build: (f, w) => written(f, w, 40 * MiB + 64 * KiB, 128 * KiB, 39, { compressed: true }) },
  { name: 'esxi-stream-4k-grains', noSpill: true, tiny: true, build: (f, w) => written(f, w, 1 * MiB, 16 * KiB, 40, { compressed: true, grainSectors: 8 }) },
  { name: 'sparse-zeroed-tiny', noSpill: true, tiny: true, build: (f) => inPlace(f, 512 * KiB, 'subformat=monolithicSparse,zeroed_grain=on', 64 * KiB) },
  { name: 'sparse-tables-last-tiny', noSpill: false, spills: true, tiny: true, build: (f, w) => written(f, w, 384 * KiB, 16 * KiB, 43, { compressed: false, grainSectors: 16 }) },
  { name: 'sparse-tables-last', noSpill: false, spills: true, build: (f, w) => written(f, w, 3 * MiB, 64 * KiB, 41, { compressed: false }) },
];

export function vmdkFixture(name: string): VmdkFixture {
  const f = vmdkFixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no vmdk fixture ${name}`);
  return f;
}

export interface BuiltVmdk {
  readonly file: string;
  readonly size: number;
  readonly reference: string;
}

/** The cached image and its reference digest, built on first use (safe across parallel test files). */
export async function builtVmdk(fixture: VmdkFixture): Promise<BuiltVmdk> {
  const dir = await cacheDir('vmdk');
  const file = path.join(dir, `${RECIPES}-${fixture.name}.vmdk`);
  const digestFile = `${file}.sha256`;
  try {
    const reference = (await readFile(digestFile, 'utf8')).trim();
    return { file, size: (await stat(file)).size, reference };
  } catch {
    // not cached yet
  }
  const work = await cacheDir('vmdk', `work-${randomUUID()}`);
  try {
    const tmp = path.join(work, 'image.vmdk');
    await fixture.build(tmp, work);
    const raw = path.join(work, 'ref.raw');
    await qemuConvertToRaw(tmp, raw);
    const reference = await sha256File(raw);
    await rename(tmp, file);
    const digestTmp = path.join(work, 'digest');
    await writeFile(digestTmp, reference);
    await rename(digestTmp, digestFile);
    return { file, size: (await stat(file)).size, reference };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
