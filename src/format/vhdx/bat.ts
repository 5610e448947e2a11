/**
 * The BAT: one u64 per payload block (state in bits 0-2, file offset in MiB in bits 20-63), with
 * a sector-bitmap entry after every `chunk ratio` payload entries. Without a parent the bitmap
 * entries carry nothing and are skipped. Block states read as qemu reads them: not present,
 * undefined, zero and unmapped blocks are zeros (zero and unmapped are written as zeros, the
 * others are left as holes), fully present blocks are data, and partially present ones (which
 * only differencing disks have) are refused.
 */
import { addZeroRun, checkBlocks, MAX_TABLE_ENTRIES, type BlockMap, type MappedBlock, type Reserved, type ZeroRun } from '../mapped/blocks.ts';
import { HEADER_SECTION, invalid, MiB, unsupported, type Layout } from './layout.ts';
import type { DiskParameters } from './metadata.ts';

const NOT_PRESENT = 0;
const UNDEFINED = 1;
const ZERO = 2;
const UNMAPPED = 3;
const FULLY_PRESENT = 6;
const PARTIALLY_PRESENT = 7;

interface BatShape {
  readonly dataBlocks: number;
  readonly chunkRatio: number;
  /** Bytes of BAT the disk needs (payload and interleaved bitmap entries). */
  readonly bytes: number;
}

export function batShape(disk: DiskParameters, layout: Layout): BatShape {
  const chunkRatio = (2 ** 23 * disk.logicalSectorSize) / disk.blockSize;
  const dataBlocks = Math.ceil(disk.virtualSize / disk.blockSize);
  const entries = dataBlocks === 0 ? 0 : dataBlocks + Math.floor((dataBlocks - 1) / chunkRatio);
  if (entries > MAX_TABLE_ENTRIES) throw unsupported(`its BAT has ${entries} entries, more than the ${MAX_TABLE_ENTRIES} this reader maps`);
  const bytes = entries * 8;
  if (bytes > layout.bat.length) throw invalid(`the ${layout.bat.length}-byte BAT region is too small for the ${entries} entries the disk needs`);
  return { dataBlocks, chunkRatio, bytes };
}

export function reservedRanges(layout: Layout): Reserved[] {
  const ranges: Reserved[] = [
    { start: 0, end: HEADER_SECTION, what: 'header section' },
    { start: layout.bat.offset, end: layout.bat.offset + layout.bat.length, what: 'BAT region' },
    { start: layout.metadata.offset, end: layout.metadata.offset + layout.metadata.length, what: 'metadata region' },
  ];
  if (layout.logLength > 0) ranges.push({ start: layout.logOffset, end: layout.logOffset + layout.logLength, what: 'log' });
  return ranges;
}

export function decodeBat(bat: Uint8Array, disk: DiskParameters, layout: Layout, fileSize: number | undefined): BlockMap {
  const shape = batShape(disk, layout);
  const v = new DataView(bat.buffer, bat.byteOffset, bat.byteLength);
  const blocks: MappedBlock[] = [];
  const zeros: ZeroRun[] = [];
  for (let i = 0; i < shape.dataBlocks; i++) {
    const at = (i + Math.floor(i / shape.chunkRatio)) * 8;
    const low = v.getUint32(at, true);
    const high = v.getUint32(at + 4, true);
    const state = low & 7;
    const guest = i * disk.blockSize;
    const length = Math.min(disk.blockSize, disk.virtualSize - guest);
    if (state === NOT_PRESENT || state === UNDEFINED) continue;
    if (state === ZERO || state === UNMAPPED) {
      addZeroRun(zeros, guest, length);
      continue;
    }
    if (state === PARTIALLY_PRESENT) throw invalid(`block ${i} is partially present, which only a differencing disk may have`);
    if (state !== FULLY_PRESENT) throw invalid(`block ${i} has unknown state ${state}`);
    if (high > 0x1fffff) throw invalid(`block ${i} has file offset ${high * 2 ** 32}+, out of range`);
    const host = high * 2 ** 32 + ((low & 0xfff00000) >>> 0);
    if (host < MiB) throw invalid(`block ${i} is fully present at file offset ${host}, inside the header section`);
    blocks.push({ guest, host, prefix: 0, length, span: disk.blockSize });
  }
  const map: BlockMap = { blocks, zeros };
  checkBlocks(map, reservedRanges(layout), fileSize, invalid);
  return map;
}
