/**
 * VHD (qemu `vpc`) test images: qemu-img output for every subformat and option, qemu-io writes
 * out of guest order, and a few patched copies (creator applications that size disks by
 * `current_size` or by CHS, a block table moved behind the data it maps).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { vhdChecksum } from '../../src/format/vhd/footer.ts';
import { cachedImage, type CachedImage, type ImageRecipe } from '../support/cached-image.ts';
import { qemuImg, qemuIo } from '../support/qemu.ts';
import { writeMixedRaw } from '../qcow2/fixtures.ts';

const RECIPES = 'v2';
const KiB = 1024;
const MiB = 1024 * 1024;

export interface VhdFixture extends ImageRecipe {
  /** Laid out as qemu-img writes it: the one-pass reader must not spill. */
  readonly convertLayout: boolean;
  /** Fixed disks have no magic before their last 512 bytes: random access only. */
  readonly fixed?: boolean;
  /** Small enough to feed one byte at a time. */
  readonly tiny?: boolean;
  /** Data sits before the table that maps it: the one-pass reader must spill. */
  readonly spills?: boolean;
}

async function fromRaw(file: string, work: string, size: number, block: number, seed: number, opts: string[]): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, block, seed);
  await qemuImg('convert', '-q', '-f', 'raw', '-O', 'vpc', ...opts, raw, file);
}

/** Rewrites the footer at `at` through `patch` and fixes its checksum. */
export function patchFooter(bytes: Buffer, at: number, patch: (footer: Buffer) => void): void {
  const footer = bytes.subarray(at, at + 512);
  patch(footer);
  footer.writeUInt32BE(vhdChecksum(footer, 64), 64);
}

/** Both footers of a dynamic disk (the copy at 0 and the one at the end). */
export function patchFooters(bytes: Buffer, patch: (footer: Buffer) => void): void {
  patchFooter(bytes, 0, patch);
  patchFooter(bytes, bytes.byteLength - 512, patch);
}

export function patchDynamicHeader(bytes: Buffer, patch: (header: Buffer) => void): void {
  const at = Number(bytes.readBigUInt64BE(16));
  const header = bytes.subarray(at, at + 1024);
  patch(header);
  header.writeUInt32BE(vhdChecksum(header, 36), 36);
}

async function patched(file: string, work: string, base: string, patch: (bytes: Buffer) => Buffer): Promise<void> {
  const bytes = await readFile((await built(vhdFixtures.find((f) => f.name === base)!)).file);
  await writeFile(file, patch(bytes));
}

const dynamicSize = 5 * MiB + 300 * KiB;

export const vhdFixtures: readonly VhdFixture[] = [
  { name: 'dynamic', convertLayout: true, build: (f, w) => fromRaw(f, w, dynamicSize, 64 * KiB, 1, []) },
  { name: 'fixed', convertLayout: true, fixed: true, build: (f, w) => fromRaw(f, w, dynamicSize, 64 * KiB, 1, ['-o', 'subformat=fixed']) },
  { name: 'dynamic-force-size', convertLayout: true, build: (f, w) => fromRaw(f, w, 3 * MiB + 1536, 32 * KiB, 2, ['-o', 'subformat=dynamic,force_size=on']) },
  { name: 'fixed-force-size', convertLayout: true, fixed: true, build: (f, w) => fromRaw(f, w, 3 * MiB + 1536, 32 * KiB, 2, ['-o', 'subformat=fixed,force_size=on']) },
  { name: 'one-block', convertLayout: true, build: (f, w) => fromRaw(f, w, 40 * KiB, 4 * KiB, 3, []) },
  {
    name: 'scattered', convertLayout: true,
    async build(f) {
      const size = 7 * MiB;
      await qemuImg('create', '-q', '-f', 'vpc', f, String(size));
      const cmds: string[] = [];
      for (let at = size - 320 * KiB, i = 0; at >= 0; at -= 320 * KiB, i++) {
        if (i % 3 === 0) cmds.push(`write -q -P ${(i * 37) % 251 + 1} ${at} ${160 * KiB}`);
        else if (i % 3 === 1) cmds.push(`write -q -z ${at} ${64 * KiB}`);
      }
      await qemuIo(f, 'vpc', ...cmds);
    },
  },
  { name: 'unwritten', convertLayout: true, tiny: true, build: (f) => qemuImg('create', '-q', '-f', 'vpc', f, '4M').then(() => undefined) },
  { name: 'empty', convertLayout: true, tiny: true, build: (f) => qemuImg('create', '-q', '-f', 'vpc', f, '0').then(() => undefined) },
  {
    // Hyper-V sizes disks by current_size, whatever the geometry says
    name: 'hyperv-creator', convertLayout: true,
    build: (f, w) => patched(f, w, 'dynamic', (bytes) => {
      patchFooters(bytes, (footer) => {
        footer.write('win ', 28, 'latin1');
        footer.writeBigUInt64BE(footer.readBigUInt64BE(48) - 3584n, 48);
      });
      return bytes;
    }),
  },
  {
    // Virtual PC sizes them by the geometry, whatever current_size says
    name: 'vpc-creator', convertLayout: true,
    build: (f, w) => patched(f, w, 'dynamic', (bytes) => {
      patchFooters(bytes, (footer) => {
        footer.write('vpc ', 28, 'latin1');
        footer.writeBigUInt64BE(footer.readBigUInt64BE(48) + 65536n, 48);
      });
      return bytes;
    }),
  },
  {
    // the block table moved to the end of the file, behind every block it maps
    name: 'table-at-end', convertLayout: false, spills: true,
    build: (f, w) => patched(f, w, 'dynamic', (bytes) => {
      const header = Number(bytes.readBigUInt64BE(16));
      const table = Number(bytes.readBigUInt64BE(header + 16));
      const span = Math.ceil((bytes.readUInt32BE(header + 28) * 4) / 512) * 512;
      const end = bytes.byteLength - 512;
      const moved = Buffer.concat([bytes.subarray(0, end), bytes.subarray(table, table + span), bytes.subarray(end)]);
      patchDynamicHeader(moved, (h) => h.writeBigUInt64BE(BigInt(end), 16));
      return moved;
    }),
  },
];

export function built(fixture: VhdFixture): Promise<CachedImage> {
  return cachedImage('vhd', RECIPES, 'vpc', fixture);
}

export function vhdFixture(name: string): VhdFixture {
  const fixture = vhdFixtures.find((f) => f.name === name);
  if (!fixture) throw new Error(`no VHD fixture ${name}`);
  return fixture;
}
