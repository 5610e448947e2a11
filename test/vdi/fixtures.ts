/**
 * VDI test images, made by qemu-img/qemu-io at test time and cached under .cache/fixtures/vdi with
 * the sha256 of `qemu-img convert -O raw` of each (the reference output). A few are qemu-made
 * images with header or map fields patched into layouts qemu never writes but reads (discarded
 * blocks, a map after the data, VirtualBox's header size).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { built as builtAs, writeMixedRaw, type BuiltFixture, type Fixture } from '../qcow2/fixtures.ts';
import { qemuImg, qemuIo } from '../support/qemu.ts';

/** Bump when a recipe changes so stale cached images are rebuilt. */
const RECIPES = 'v1';
const KiB = 1024;
const MiB = 1024 * 1024;

export const built = (fixture: Fixture): Promise<BuiltFixture> => builtAs(fixture, 'vdi', RECIPES);

export const mapOffset = (b: Buffer): number => b.readUInt32LE(0x154);
export const dataOffset = (b: Buffer): number => b.readUInt32LE(0x158);
export const blocksInImage = (b: Buffer): number => b.readUInt32LE(0x180);
export const blocksAllocated = (b: Buffer): number => b.readUInt32LE(0x184);
export const mapEntry = (b: Buffer, i: number): number => b.readUInt32LE(mapOffset(b) + 4 * i);
export const setMapEntry = (b: Buffer, i: number, v: number): void => {
  b.writeUInt32LE(v, mapOffset(b) + 4 * i);
};

async function create(file: string, size: number, ...opts: string[]): Promise<void> {
  await qemuImg('create', '-q', '-f', 'vdi', ...opts, file, String(size));
}

async function fromRaw(file: string, work: string, size: number, piece: number, seed: number, opts: string[]): Promise<void> {
  const raw = path.join(work, 'src.raw');
  await writeMixedRaw(raw, size, piece, seed);
  await qemuImg('convert', '-q', '-f', 'raw', '-O', 'vdi', ...opts, raw, file);
}

async function patch(file: string, edit: (b: Buffer) => Buffer | void): Promise<void> {
  const bytes = await readFile(file);
  await writeFile(file, edit(bytes) ?? bytes);
}

/** Writes in reverse guest order, so data blocks sit in the file in the opposite order to the guest. */
async function reverseWrites(file: string, size: number, step: number): Promise<void> {
  const cmds: string[] = [];
  for (let at = size - step, i = 0; at >= 0; at -= step, i++) {
    if (i % 3 !== 2) cmds.push(`write -q -P ${(i * 37) % 251 + 1} ${at} ${Math.min(step, size - at) - 512}`);
  }
  await qemuIo(file, 'vdi', ...cmds);
}

/** A layout qemu reads but never writes: the block map after the data, its old place filled with junk. */
function moveMapBehindData(b: Buffer): Buffer {
  const oldMap = mapOffset(b);
  const moved = Buffer.concat([b, b.subarray(oldMap, oldMap + 512)]);
  moved.writeUInt32LE(b.byteLength, 0x154);
  moved.fill(0xee, oldMap, dataOffset(b));
  return moved;
}

export interface VdiFixture extends Fixture {
  /** Small enough for the mutation fuzz. */
  readonly fuzzBase?: boolean;
  /** Too big to feed 7 bytes at a time in reasonable test time. */
  readonly large?: boolean;
}

export const fixtures: readonly VdiFixture[] = [
  {
    name: 'dynamic-convert', convertLayout: true, large: true,
    build: (f, w) => fromRaw(f, w, 9 * MiB + 3 * 512, 96 * KiB, 31, []),
  },
  {
    name: 'static-convert', convertLayout: true, large: true,
    build: (f, w) => fromRaw(f, w, 9 * MiB + 3 * 512, 96 * KiB, 31, ['-o', 'static=on']),
  },
  {
    name: 'dynamic-reverse', convertLayout: true, large: true,
    async build(f) {
      await create(f, 12 * MiB);
      await reverseWrites(f, 12 * MiB, 700 * KiB);
    },
  },
  {
    name: 'static-empty', convertLayout: true,
    build: (f) => create(f, 3 * MiB, '-o', 'static=on'),
  },
  {
    name: 'dynamic-empty', convertLayout: true, tiny: true, fuzzBase: true,
    build: (f) => create(f, 64 * MiB),
  },
  {
    name: 'zero-size', convertLayout: true, tiny: true,
    build: (f) => create(f, 0),
  },
  {
    name: 'odd-size', convertLayout: true,
    build: (f, w) => fromRaw(f, w, 2 * MiB + 12_345, 8 * KiB, 32, []),
  },
  {
    name: 'small-dynamic', convertLayout: true,
    async build(f) {
      await create(f, 4 * MiB);
      await qemuIo(f, 'vdi', 'write -q -P 0x61 3M 4k', 'write -q -P 0x62 1M 512', 'write -q -P 0x63 1040k 8k');
    },
  },
  {
    name: 'small-static', convertLayout: true,
    async build(f) {
      await create(f, 2 * MiB - 1536, '-o', 'static=on');
      await qemuIo(f, 'vdi', 'write -q -P 0x71 0 3k', 'write -q -P 0x72 1M 4k');
    },
  },
  {
    // qemu never writes discarded (0xfffffffe) entries but reads them as zeros
    name: 'discarded-blocks', convertLayout: true,
    async build(f) {
      await create(f, 4 * MiB);
      await qemuIo(f, 'vdi', 'write -q -P 0x41 0 1M', 'write -q -P 0x42 1M 1M', 'write -q -P 0x43 2M 4k');
      await patch(f, (b) => setMapEntry(b, 1, 0xfffffffe));
    },
  },
  {
    // the header size VirtualBox writes, and its banner
    name: 'vbox-header', convertLayout: true,
    async build(f) {
      await create(f, 3 * MiB);
      await qemuIo(f, 'vdi', 'write -q -P 0x51 2M 64k');
      await patch(f, (b) => {
        b.fill(0, 0, 0x40);
        b.write('<<< Oracle VM VirtualBox Disk Image >>>\n', 0, 'latin1');
        b.writeUInt32LE(0x190, 0x48);
      });
    },
  },
  {
    // the mutation fuzz's bases hold one data block each: the header and map are what it mutates
    name: 'fuzz-dynamic', convertLayout: true, fuzzBase: true,
    async build(f) {
      await create(f, 5 * MiB + 1024);
      await qemuIo(f, 'vdi', 'write -q -P 0x91 5M 1k');
      await patch(f, (b) => setMapEntry(b, 2, 0xfffffffe));
    },
  },
  {
    name: 'fuzz-static', convertLayout: true, fuzzBase: true,
    async build(f) {
      await create(f, 1 * MiB - 512, '-o', 'static=on');
      await qemuIo(f, 'vdi', 'write -q -P 0x92 4k 2k');
    },
  },
  {
    name: 'fuzz-map-after-data', convertLayout: false, spills: true, fuzzBase: true,
    async build(f) {
      await create(f, 2 * MiB);
      await qemuIo(f, 'vdi', 'write -q -P 0x93 1M 3k');
      await patch(f, moveMapBehindData);
    },
  },
  {
    // the block map moved behind the data: the one-pass reader must keep the data until the map
    name: 'map-after-data', convertLayout: false, spills: true,
    async build(f) {
      await create(f, 3 * MiB);
      await qemuIo(f, 'vdi', 'write -q -P 0x81 2M 5k', 'write -q -P 0x82 0 1M');
      await patch(f, moveMapBehindData);
    },
  },
];
