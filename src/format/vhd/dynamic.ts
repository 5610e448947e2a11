/**
 * The dynamic disk header ("cxsparse", 1024 bytes, big-endian) and the block allocation table it
 * points to: one u32 sector number per block (0xFFFFFFFF: not allocated). Each allocated block is
 * a sector bitmap (one bit per sector, most significant bit first, padded to 512 bytes) followed
 * by the block's data.
 */
import { CdiError } from '../../api/errors.ts';
import { checkBlocks, MAX_TABLE_ENTRIES, type BlockMap, type MappedBlock, type Reserved } from '../mapped/blocks.ts';
import { FOOTER_BYTES, hex, MAX_VIRTUAL_SIZE, SECTOR, u64, vhdChecksum, type VhdFooter } from './footer.ts';

export const HEADER_BYTES = 1024;
const UNALLOCATED = 0xffffffff;

interface DynamicHeader {
  readonly tableOffset: number;
  readonly blockSize: number;
  readonly bitmapBytes: number;
  /** BAT entries the virtual size needs (the table may have more). */
  readonly entries: number;
  /** Bytes the table occupies in the file, rounded up to a sector. */
  readonly tableSpan: number;
}

export const invalid = (reason: string): CdiError => new CdiError('CDI_ERR_VHD_INVALID', [reason]);

export function parseDynamicHeader(bytes: Uint8Array, footer: VhdFooter): DynamicHeader {
  if (bytes.byteLength < HEADER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VHD dynamic disk header needs ${HEADER_BYTES} bytes, got ${bytes.byteLength}`]);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') !== 'cxsparse') throw invalid(`no dynamic disk header ("cxsparse") at host offset ${footer.dataOffset}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const stored = view.getUint32(36);
  const computed = vhdChecksum(bytes.subarray(0, HEADER_BYTES), 36);
  if (stored !== computed) throw invalid(`dynamic disk header checksum is 0x${hex(stored)}, the header sums to 0x${hex(computed)}`);
  const tableOffset = u64(view, 16, invalid, 'block table offset');
  const maxEntries = view.getUint32(28);
  const blockSize = view.getUint32(32);
  if (blockSize < SECTOR || (blockSize & (blockSize - 1)) !== 0) throw invalid(`block size ${blockSize} is not a power of two of at least 512`);
  const entries = Math.ceil(footer.virtualSize / blockSize);
  if (maxEntries < entries) throw invalid(`the block table has ${maxEntries} entries, the ${footer.virtualSize}-byte disk needs ${entries}`);
  if (maxEntries > MAX_VIRTUAL_SIZE / blockSize) throw invalid(`the block table has ${maxEntries} entries, more than a 2040 GiB disk of ${blockSize}-byte blocks has`);
  if (entries > MAX_TABLE_ENTRIES) throw new CdiError('CDI_ERR_VHD_UNSUPPORTED', [`its block table needs ${entries} entries, more than the ${MAX_TABLE_ENTRIES} this reader maps`]);
  return {
    tableOffset,
    blockSize,
    bitmapBytes: Math.ceil(blockSize / SECTOR / 8 / SECTOR) * SECTOR,
    entries,
    tableSpan: Math.ceil((maxEntries * 4) / SECTOR) * SECTOR,
  };
}

/** Host ranges of the footer copy, the dynamic header and the table. */
export function reservedRanges(footer: VhdFooter, header: DynamicHeader): Reserved[] {
  return [
    { start: 0, end: FOOTER_BYTES, what: 'footer copy' },
    { start: footer.dataOffset, end: footer.dataOffset + HEADER_BYTES, what: 'dynamic disk header' },
    { start: header.tableOffset, end: header.tableOffset + header.tableSpan, what: 'block allocation table' },
  ];
}

/** The block map of `table` (the first `header.entries` entries), checked against the file when its size is known. */
export function decodeTable(table: Uint8Array, footer: VhdFooter, header: DynamicHeader, fileSize: number | undefined): BlockMap {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const blocks: MappedBlock[] = [];
  for (let i = 0; i < header.entries; i++) {
    const sector = view.getUint32(i * 4);
    if (sector === UNALLOCATED) continue;
    const guest = i * header.blockSize;
    blocks.push({
      guest,
      host: sector * SECTOR,
      prefix: header.bitmapBytes,
      length: Math.min(header.blockSize, footer.virtualSize - guest),
      span: header.bitmapBytes + header.blockSize,
    });
  }
  const map: BlockMap = { blocks, zeros: [], present: presentSectors };
  checkBlocks(map, reservedRanges(footer, header), fileSize, invalid);
  return map;
}

/** Byte ranges of the sectors the bitmap marks present (a clear bit reads as zeros). */
function presentSectors(bitmap: Uint8Array, length: number): Array<readonly [number, number]> {
  const sectors = Math.ceil(length / SECTOR);
  const full = sectors >>> 3;
  let allSet = true;
  for (let i = 0; i < full && allSet; i++) allSet = bitmap[i] === 0xff;
  for (let s = full * 8; s < sectors && allSet; s++) allSet = (bitmap[s >>> 3]! & (0x80 >>> (s & 7))) !== 0;
  if (allSet) return [[0, length]];
  const ranges: Array<readonly [number, number]> = [];
  let start = -1;
  for (let s = 0; s <= sectors; s++) {
    const set = s < sectors && (bitmap[s >>> 3]! & (0x80 >>> (s & 7))) !== 0;
    if (set && start < 0) start = s;
    else if (!set && start >= 0) {
      ranges.push([start * SECTOR, Math.min(length, s * SECTOR)]);
      start = -1;
    }
  }
  return ranges;
}
