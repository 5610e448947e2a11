/**
 * VHDX test images: qemu-img output for both subformats, block sizes from 1 to 256 MiB, a larger
 * log, blocks without the ZERO state, qemu-io writes out of guest order (with zeroed blocks), and
 * a patched copy whose BAT is moved behind the blocks it maps.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32cWithHole } from '../../src/format/crc32c.ts';
import { cachedImage, type CachedImage, type ImageRecipe } from '../support/cached-image.ts';
import { qemuImg, qemuIo } from '../support/qemu.ts';
import { writeMixedRaw } from '../qcow2/fixtures.ts';

const RECIPES = 'v1';
const KiB = 1024;
const MiB = 1024 * 1024;

export interface VhdxFixture extends ImageRecipe {
  /** Laid out as qemu-img writes it: the one-pass reader must not spill. */
  readonly convertLayout: boolean;
  /** Data sits before the table that maps it: the one-pass reader must spill. */
  readonly spills?: boolean;
}

async function fromRaw(file: string, work: string, size: number, block: number, seed: number, opts: string[]): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, block, seed);
  await qemuImg('convert', '-q', '-f', 'raw', '-O', 'vhdx', ...opts, raw, file);
}

export const REGION_TABLES = [192 * KiB, 256 * KiB];
export const HEADERS = [64 * KiB, 128 * KiB];

/** Region table entries as [entry offset in the file, guid hex]: patch them, then call fixRegionTables. */
export function regionEntries(bytes: Buffer, table: number): Array<{ at: number; guid: string }> {
  const count = bytes.readUInt32LE(table + 8);
  return Array.from({ length: count }, (_, i) => ({ at: table + 16 + i * 32, guid: bytes.subarray(table + 16 + i * 32, table + 32 + i * 32).toString('hex') }));
}

export const BAT_GUID = '6677c22d23f600429d64115e9bfd4a08';
export const METADATA_GUID = '06a27c8b90479a4bb8fe575f050f886e';

export function fixChecksum(bytes: Buffer, at: number, length: number): void {
  bytes.writeUInt32LE(crc32cWithHole(bytes.subarray(at, at + length), 4), at + 4);
}

export function fixRegionTables(bytes: Buffer): void {
  for (const t of REGION_TABLES) fixChecksum(bytes, t, 64 * KiB);
}

export function fixHeaders(bytes: Buffer): void {
  for (const h of HEADERS) fixChecksum(bytes, h, 4 * KiB);
}

const size = 5 * MiB + 300 * KiB;

export const vhdxFixtures: readonly VhdxFixture[] = [
  { name: 'dynamic', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 11, []) },
  { name: 'fixed', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 11, ['-o', 'subformat=fixed']) },
  { name: 'block-1m', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 128 * KiB, 12, ['-o', 'subformat=dynamic,block_size=1M']) },
  { name: 'block-1m-fixed', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 128 * KiB, 12, ['-o', 'subformat=fixed,block_size=1M']) },
  { name: 'block-8m', convertLayout: true, build: (f, w) => fromRaw(f, w, 17 * MiB + 512, 256 * KiB, 13, ['-o', 'block_size=8M']) },
  { name: 'block-32m-fixed', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 14, ['-o', 'subformat=fixed,block_size=32M']) },
  { name: 'block-256m', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 15, ['-o', 'block_size=256M']) },
  { name: 'log-4m', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 16, ['-o', 'log_size=4M']) },
  { name: 'fixed-no-zero-state', convertLayout: true, build: (f, w) => fromRaw(f, w, size, 64 * KiB, 17, ['-o', 'subformat=fixed,block_state_zero=off']) },
  {
    name: 'scattered', convertLayout: true,
    async build(f) {
      const total = 9 * MiB;
      await qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', f, String(total));
      const cmds: string[] = [];
      for (let at = total - MiB, i = 0; at >= 0; at -= MiB, i++) {
        if (i % 3 === 0) cmds.push(`write -q -P ${(i * 37) % 251 + 1} ${at + 4 * KiB} ${300 * KiB}`);
        else if (i % 3 === 1) cmds.push(`write -q -z ${at} ${MiB}`);
      }
      await qemuIo(f, 'vhdx', ...cmds);
    },
  },
  // small bases for the mutation fuzz
  { name: 'small-1m', convertLayout: true, build: (f, w) => fromRaw(f, w, 2 * MiB + 4 * KiB, 32 * KiB, 18, ['-o', 'block_size=1M']) },
  { name: 'small-1m-fixed', convertLayout: true, build: (f, w) => fromRaw(f, w, MiB + 512, 32 * KiB, 19, ['-o', 'subformat=fixed,block_size=1M']) },
  { name: 'empty', convertLayout: true, build: (f) => qemuImg('create', '-q', '-f', 'vhdx', f, '0').then(() => undefined) },
  {
    // the BAT region moved to the end of the file, behind every block it maps
    name: 'bat-at-end', convertLayout: false, spills: true,
    async build(f) {
      const bytes = await readFile((await built(vhdxFixture('dynamic'))).file);
      const end = Math.ceil(bytes.byteLength / MiB) * MiB;
      let moved: Buffer | undefined;
      for (const t of REGION_TABLES) {
        for (const entry of regionEntries(bytes, t)) {
          if (entry.guid !== BAT_GUID) continue;
          const offset = Number(bytes.readBigUInt64LE(entry.at + 16));
          const length = bytes.readUInt32LE(entry.at + 24);
          moved ??= Buffer.concat([bytes, Buffer.alloc(end - bytes.byteLength), bytes.subarray(offset, offset + length)]);
          moved.writeBigUInt64LE(BigInt(end), entry.at + 16);
        }
      }
      fixRegionTables(moved!);
      await writeFile(f, moved!);
    },
  },
];

export function built(fixture: VhdxFixture): Promise<CachedImage> {
  return cachedImage('vhdx', RECIPES, 'vhdx', fixture);
}

export function vhdxFixture(name: string): VhdxFixture {
  const fixture = vhdxFixtures.find((f) => f.name === name);
  if (!fixture) throw new Error(`no VHDX fixture ${name}`);
  return fixture;
}
